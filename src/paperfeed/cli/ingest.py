"""`paperfeed ingest`: import paper metadata from files or live sources, idempotently."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from paperfeed.cli.common import (
    day_range,
    exit_on,
    finish_import,
    index_after_import,
    load_settings,
    open_db,
    parse_day,
    progress_bar,
    say,
)
from paperfeed.ingest.http import RemoteError
from paperfeed.ingest.report import IngestReport

app = typer.Typer(help="Import paper metadata.", no_args_is_help=True)


@app.command("hf-daily")
def hf_daily(
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
    enqueue: Annotated[
        bool,
        typer.Option(help="Hand the files to `paperfeed worker` (the job queue) and return."),
    ] = False,
) -> None:
    """Import Hugging Face daily papers from saved JSON files or a live endpoint.

    Exit status: 0 all imported, 3 some files or records rejected (listed on stderr).
    """
    from paperfeed.ingest import hf_daily as source

    settings = load_settings()
    if not paths and not (day or from_):
        raise typer.BadParameter("give PATH... to import files, or --date / --from to fetch")
    if enqueue:
        _enqueue_files(paths or [], force=force)
        return
    days = _days(day, from_, to) if (day or from_) else []
    with open_db(settings) as db:
        with progress_bar() as progress:
            report = IngestReport()
            if paths:
                report = source.import_paths(db, paths, progress=progress, force=force)
            if days:
                fetched = source.fetch_days(
                    db, days, endpoint=endpoint or settings.hf_endpoint, settings=settings,
                    progress=progress,
                )  # fmt: skip
                report.saved.papers.add(fetched.saved.papers)
                report.saved.entries.add(fetched.saved.entries)
                report.rejected.extend(fetched.rejected)
        index_after_import(db, settings)
    finish_import(report, "hf-daily")


@app.command("arxiv-jsonl")
def arxiv_jsonl(
    path: Annotated[
        Path, typer.Argument(help="arXiv bulk-metadata snapshot, .jsonl or .jsonl.gz.")
    ],
    force: Annotated[bool, typer.Option(help="Start again from the first line.")] = False,
    copy: Annotated[
        bool,
        typer.Option(help="PostgreSQL: COPY into staging tables, then merge (a full snapshot)."),
    ] = False,
) -> None:
    """Import the arXiv bulk-metadata snapshot (JSON lines); an interrupted run resumes.

    Exit status: 0 all imported, 3 some records rejected (listed on stderr).
    """
    from paperfeed.ingest import arxiv_jsonl, bulk_pg

    settings = load_settings()
    with open_db(settings) as db:
        if copy and db.engine.dialect.name != "postgresql":
            raise typer.BadParameter("--copy needs PostgreSQL (database_url)")
        importer = bulk_pg.import_file if copy else arxiv_jsonl.import_file
        with progress_bar() as progress:
            report = importer(db, path, progress=progress, restart=force)
        index_after_import(db, settings)
    finish_import(report, "arxiv-jsonl")


@app.command("oai")
def oai(
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
    from paperfeed.ingest import oai as source

    settings = load_settings()
    first = parse_day(from_, "--from")
    last = parse_day(until, "--until") if until else None
    with open_db(settings) as db:
        with (
            progress_bar() as progress,
            exit_on(RemoteError, advice="the next run resumes from the last page saved"),
        ):
            report = source.harvest(
                db,
                url=url or settings.oai_url,
                from_date=first,
                until_date=last,
                set_spec=set_ or None,
                delay_s=settings.http_delay_s if delay is None else delay,
                settings=settings,
                progress=progress,
                restart=restart,
            )
        index_after_import(db, settings)
    finish_import(report, "oai")


def _enqueue_files(paths: list[Path], *, force: bool) -> None:
    from paperfeed.jobs import queue, tasks

    if not paths:
        raise typer.BadParameter("--enqueue takes PATH... (files the worker can read)")
    settings = load_settings()
    with exit_on(queue.QueueUnavailable, status=2), queue.opened(settings):
        job = tasks.import_hf_daily_files.defer(
            paths=[str(path.resolve()) for path in paths], force=force
        )
    say(f"hf-daily: import queued as job {job}")


def _days(day: str | None, from_: str | None, to: str | None) -> list[date]:
    if day:
        return [parse_day(day, "--date")]
    assert from_ is not None
    first = parse_day(from_, "--from")
    return day_range(first, parse_day(to, "--to") if to else date.today())
