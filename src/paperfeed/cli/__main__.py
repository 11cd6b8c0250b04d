"""`python -m paperfeed.cli`: the same as the `paperfeed` command."""

from paperfeed.cli import app

if __name__ == "__main__":  # not again in a spawned child (the COPY import's parser)
    app()
