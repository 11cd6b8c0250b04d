"""The `paperfeed` command: every operator task, one module per command group.

common.py holds what they share (settings, the database, progress bars, exit statuses); each
command is a thin shell over the service it names.
"""

from __future__ import annotations

import typer

from paperfeed.cli import accounts, backup, digest, evals, ingest, search, site, worker

app = typer.Typer(
    help="paperfeed: a self-hosted research-paper discovery service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(site.quickstart)
app.command()(site.serve)
app.command()(worker.worker)
app.command()(search.search)
app.command()(search.index)
app.command()(search.embed)
app.command()(backup.backup)
app.command()(backup.restore)
app.add_typer(site.db_app, name="db")
app.add_typer(ingest.app, name="ingest")
app.add_typer(digest.app, name="digest")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.add_typer(evals.app, name="eval")

__all__ = ["app"]
