"""The `paperfeed` command: every operator task, from setting up to serving and importing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.engine import make_url

from paperfeed import logs
from paperfeed.ingest.http import RemoteError
from paperfeed.ingest.report import IngestReport
from paperfeed.settings import Settings, get_settings
from paperfeed.store.db import Database

app = typer.Typer(
    help="paperfeed: a self-hosted research-paper discovery service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ingest_app = typer.Typer(help="Import paper metadata.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

# Exit status of an import that saved the good records but rejected some.
EXIT_REJECTED = 3


class BarProgress:
    """A ProgressSink drawn with rich on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar, and no stray blank line, in logs and pipes
    )


def _settings() -> Settings:
    settings = get_settings()
    logs.configure(settings.log_level)
    settings.ensure_home()
    return settings


def _open_db(settings: Settings) -> Database:
    return Database(settings.database_url)


def _finish(report: IngestReport, what: str) -> None:
    """Print the summary and every rejection, then exit with the documented status."""
    _summary(report, what)
    if report.rejected:
        err.print(f"{len(report.rejected)} rejected; everything else was imported.")
        raise typer.Exit(EXIT_REJECTED)


@contextmanager
def _remote_errors(advice: str) -> Iterator[None]:
    """Turn a remote source's final failure into one clear line and exit status 1."""
    try:
        yield
    except RemoteError as error:
        err.print(f"error: {error}; {advice}", highlight=False, markup=False)
        raise typer.Exit(1) from None


def _summary(report: IngestReport, what: str) -> None:
    papers, entries = report.saved.papers, report.saved.entries
    line = (
        f"{what}: papers {papers.inserted} new, {papers.updated} updated, "
        f"{papers.unchanged} unchanged"
    )
    if entries.inserted or entries.updated or entries.unchanged:
        line += (
            f"; daily listings {entries.inserted} new, {entries.updated} updated, "
            f"{entries.unchanged} unchanged"
        )
    if report.skipped_sources:
        line += f"; {len(report.skipped_sources)} source(s) already imported, skipped"
    out.print(line, highlight=False)
    for rejection in report.rejected:
        err.print(f"rejected {rejection}", highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    settings = _settings()
    _open_db(settings).close()
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    out.print(f"database is up to date: {shown}", highlight=False)


@ingest_app.command("hf-daily")
def ingest_hf_daily(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders of saved GET /api/daily_papers responses."),
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="Fetch this day (YYYY-MM-DD) from the endpoint.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Fetch every day from this one (YYYY-MM-DD).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day to fetch (default: today).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Hugging Face API base URL (default: the public one).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Re-read files already imported.")] = False,
) -> None:
    """Import Hugging Face daily papers from saved JSON files or a live endpoint.

    Exit status: 0 all imported, 3 some files or records rejected (listed on stderr).
    """
    from paperfeed.ingest import hf_daily

    settings = _settings()
    if not paths and not (day or from_):
        raise typer.BadParameter("give PATH... to import files, or --date / --from to fetch")
    days = _days(day, from_, to) if (day or from_) else []
    db = _open_db(settings)
    with _progress() as bar:
        progress = BarProgress(bar)
        report = IngestReport()
        if paths:
            report = hf_daily.import_paths(db, paths, progress=progress, force=force)
        if days:
            fetched = hf_daily.fetch_days(
                db, days, endpoint=endpoint or settings.hf_endpoint, settings=settings,
                progress=progress,
            )  # fmt: skip
            report.saved.papers.add(fetched.saved.papers)
            report.saved.entries.add(fetched.saved.entries)
            report.rejected.extend(fetched.rejected)
    _finish(report, "hf-daily")


@ingest_app.command("arxiv-jsonl")
def ingest_arxiv_jsonl(
    path: Annotated[
        Path, typer.Argument(help="arXiv bulk-metadata snapshot, .jsonl or .jsonl.gz.")
    ],
    force: Annotated[bool, typer.Option(help="Start again from the first line.")] = False,
) -> None:
    """Import the arXiv bulk-metadata snapshot (JSON lines); an interrupted run resumes.

    Exit status: 0 all imported, 3 some records rejected (listed on stderr).
    """
    from paperfeed.ingest import arxiv_jsonl

    settings = _settings()
    db = _open_db(settings)
    with _progress() as bar:
        report = arxiv_jsonl.import_file(db, path, progress=BarProgress(bar), restart=force)
    _finish(report, "arxiv-jsonl")


@ingest_app.command("oai")
def ingest_oai(
    from_: Annotated[str, typer.Option("--from", help="First datestamp (YYYY-MM-DD).")],
    until: Annotated[str | None, typer.Option(help="Last datestamp (YYYY-MM-DD).")] = None,
    set_: Annotated[str | None, typer.Option("--set", help="OAI set, e.g. cs.")] = "cs",
    url: Annotated[str | None, typer.Option(help="OAI-PMH base URL (default: arXiv's).")] = None,
    delay: Annotated[
        float | None, typer.Option(help="Seconds between requests (default: settings).")
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Ignore the checkpoint of an interrupted harvest.")
    ] = False,
) -> None:
    """Harvest arXiv metadata over OAI-PMH; a killed harvest resumes from its checkpoint.

    Exit status: 0 all imported, 3 some records rejected (listed on stderr), 1 the source failed
    (run again to resume).
    """
    from paperfeed.ingest import oai

    settings = _settings()
    db = _open_db(settings)
    with _progress() as bar, _remote_errors("the next run resumes from the last page saved"):
        report = oai.harvest(
            db,
            url=url or settings.oai_url,
            from_date=_parse_day(from_, "--from"),
            until_date=_parse_day(until, "--until") if until else None,
            set_spec=set_ or None,
            delay_s=settings.http_delay_s if delay is None else delay,
            settings=settings,
            progress=BarProgress(bar),
            restart=restart,
        )
    _finish(report, "oai")


@app.command()
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

    settings = _settings()
    db = _open_db(settings)
    data_dir = setup.find_data_dir(data)
    with _progress() as bar:
        if data_dir:
            err.print(f"importing the data sets in {data_dir}", highlight=False)
            reports = setup.import_local(db, data_dir, BarProgress(bar))
        else:
            err.print("no local data sets found: fetching the last week from the live sources")
            reports = setup.import_live(db, settings, BarProgress(bar))
    for name, report in reports:
        _summary(report, name)
    db.close()
    if serve_site:
        serve(host=host, port=port, workers=1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
) -> None:
    """Run the web site and JSON API."""
    import uvicorn

    settings = _settings()
    _open_db(settings).close()  # migrate once, before any worker starts
    host, port = host or settings.host, port or settings.port
    err.print(f"paperfeed on http://{host}:{port}/  (Ctrl+C stops)", highlight=False)
    uvicorn.run(
        "paperfeed.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


def _parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def _days(day: str | None, from_: str | None, to: str | None) -> list[date]:
    if day:
        return [_parse_day(day, "--date")]
    first = _parse_day(from_, "--from")  # type: ignore[arg-type]
    last = _parse_day(to, "--to") if to else date.today()
    if last < first:
        raise typer.BadParameter("--to is before --from")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


if __name__ == "__main__":
    app()
