"""What every command shares: settings and logs, the open database, progress bars, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from paperfeed import logs
from paperfeed.core.errors import PaperfeedError
from paperfeed.ingest.report import IngestReport
from paperfeed.settings import Settings, get_settings
from paperfeed.store.db import Database

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

# Exit statuses: 0 done; 1 a remote service, model or device failed (the work so far is kept);
# 2 a usage error (Typer's own); 3 an import saved the good records but rejected some.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3


def load_settings() -> Settings:
    """The process's settings, with logging configured and the data folder made."""
    settings = get_settings()
    logs.configure(settings.log_level)
    settings.ensure_home()
    return settings


def open_db(settings: Settings) -> Database:
    """The configured database, migrated; use it in a `with` block so it is closed."""
    return Database(settings.database_url)


def say(text: str) -> None:
    """A line of the command's result on stdout (never read as markup)."""
    out.print(text, highlight=False, markup=False)


def warn(text: str) -> None:
    """A line on stderr (never read as markup)."""
    err.print(text, highlight=False, markup=False)


def fail(error: PaperfeedError | str, status: int = EXIT_FAILED) -> typer.Exit:
    """Print `error: ...` on stderr and return the Exit to raise (`raise fail(...) from None`)."""
    warn(f"error: {error}")
    return typer.Exit(status)


class BarProgress:
    """A core.progress.ProgressSink drawn with rich on stderr (hidden when not a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


@contextmanager
def progress_bar() -> Iterator[BarProgress]:
    """A progress bar for one long job, on stderr; no bar (and no stray line) in pipes and logs."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        yield BarProgress(bar)


def index_after_import(db: Database, settings: Settings) -> None:
    """Bring the search indexes up to date after an import, so new papers are searchable.

    With the job queue the web nodes' replicas pick the papers up by themselves within seconds.
    """
    from paperfeed.search.indexer import update_indexes

    if settings.uses_job_queue:
        warn("the web nodes' search replicas pick the new papers up within seconds")
        return

    with progress_bar() as progress:
        update_indexes(db, settings, progress=progress)


def summarize(report: IngestReport, what: str) -> None:
    """One line saying what an import wrote, then every rejection on stderr."""
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
    say(line)
    for rejection in report.rejected:
        warn(f"rejected {rejection}")


def finish_import(report: IngestReport, what: str) -> None:
    """The summary and every rejection, then exit with the documented status."""
    summarize(report, what)
    if report.rejected:
        warn(f"{len(report.rejected)} rejected; everything else was imported.")
        raise typer.Exit(EXIT_REJECTED)


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD option value, or a usage error naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def day_range(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    if last < first:
        raise typer.BadParameter("--to is before --from")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@contextmanager
def exit_on(
    *errors: type[PaperfeedError], advice: str = "", status: int = EXIT_FAILED
) -> Iterator[None]:
    """Turn these errors into one `error: ...` line on stderr and exit `status` (default 1)."""
    try:
        yield
    except errors as error:
        raise fail(f"{error}; {advice}" if advice else str(error), status) from None
