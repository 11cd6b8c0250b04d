"""`paperfeed quickstart`, `serve` and `db upgrade`: set a site up, run it, migrate it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from paperfeed.cli.common import (
    index_after_import,
    load_settings,
    open_db,
    progress_bar,
    say,
    summarize,
    warn,
)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (and the job queue's)."""
    settings = load_settings()
    open_db(settings).close()
    if settings.uses_job_queue:
        from paperfeed.jobs.queue import ensure_schema

        ensure_schema(settings)  # the job queue's tables, beside paperfeed's own
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    say(f"database is up to date: {shown}")


def quickstart(
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of the shared data sets (default: found beside the checkout)."),
    ] = None,
    serve_site: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the site when the import is done.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Set up a site on real papers and start it: one command for a newcomer.

    Imports the shared data sets when they are found (every Hugging Face daily listing and the
    arXiv snapshot, about half a minute), otherwise the last week from Hugging Face and arXiv's
    OAI-PMH service. Sources already imported are skipped, so running it again is quick.
    """
    from paperfeed.ingest import quickstart as setup
    from paperfeed.search.embedding.build import start_building

    settings = load_settings()
    data_dir = setup.find_data_dir(data)
    # The model the background embedder loads first is built beside the import, on the other
    # core: search by meaning then starts the moment the site answers.
    models = start_building(settings) if serve_site else None
    with open_db(settings) as db:
        with progress_bar() as progress:
            if data_dir:
                warn(f"importing the data sets in {data_dir}")
                reports = setup.import_local(db, data_dir, progress)
            else:
                warn("no local data sets found: fetching the last week from the live sources")
                reports = setup.import_live(db, settings, progress)
        for name, report in reports:
            summarize(report, name)
        index_after_import(db, settings)
    if models is not None:
        models.join()  # normally done before the import (about 40 s of its minutes)
    if serve_site:
        serve(host=host, port=port, workers=1)


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
) -> None:
    """Run the web site and JSON API."""
    import uvicorn

    from paperfeed.cli import serving

    settings = load_settings()
    open_db(settings).close()  # migrate once, before any worker starts
    host, port = host or settings.host, port or settings.port
    warn(f"paperfeed on http://{host}:{port}/  (Ctrl+C stops)")
    config = uvicorn.Config(
        "paperfeed.web.app:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # The site reads X-Forwarded-For itself, only from PAPERFEED_TRUSTED_PROXIES; uvicorn's
        # own handling would believe any local peer's.
        proxy_headers=False,
        # Longer than clients' idle keep-alive (httpx 5 s, browsers and proxies up to 60 s): with
        # uvicorn's default of 5 s the server closed idle connections just as a client reused
        # them, and the soak saw ReadError / RemoteProtocolError on ~1 request in 2,000.
        timeout_keep_alive=75,
    )
    if workers > 1:
        try:
            serving.run(config)  # a listening socket per worker: connections spread evenly
        except OSError as error:
            raise typer.BadParameter(f"cannot listen on {host}:{port}: {error}") from error
        except KeyboardInterrupt:
            pass
    else:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE: the port is taken, or the app broke
