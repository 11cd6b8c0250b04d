"""`paperfeed worker`: run the site's background work from the PostgreSQL job queue."""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli.common import exit_on, load_settings, open_db, warn
from paperfeed.jobs.queue import QueueUnavailable


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="Jobs this process runs at once (one thread each).")
    ] = 1,
) -> None:
    """Run background jobs: ingest schedules, embedding, index upkeep, digests, queued mail.

    Start one or more on any host that reaches the database; each job runs on one of them and
    periodic jobs fire once for the whole site. SIGTERM or Ctrl+C stops after the running jobs.
    """
    from paperfeed.jobs import queue

    settings = load_settings()
    with exit_on(QueueUnavailable, status=2), open_db(settings) as db:
        queue.conninfo(settings)  # a clear error on SQLite before anything starts
        warn("paperfeed worker: waiting for jobs (Ctrl+C stops)")
        queue.run_worker(settings, db, concurrency=concurrency)
