"""The job queue: a procrastinate app on the site's PostgreSQL, its schema, and the worker.

procrastinate keeps jobs in PostgreSQL tables (no other server), hands each job to one worker
with SELECT ... FOR UPDATE SKIP LOCKED, and defers each periodic task once per scheduled time
for the whole site (a unique row per task and timestamp), however many workers run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import procrastinate
import psycopg
from sqlalchemy.engine import make_url

from paperfeed.core.errors import PaperfeedError
from paperfeed.settings import Settings
from paperfeed.store.db import Database

log = logging.getLogger(__name__)
STALLED_BEATS = 3  # heartbeats a worker may miss before it counts as dead
SCHEMA_LOCK = "paperfeed:procrastinate-schema"  # an advisory lock: one process installs it


class QueueUnavailable(PaperfeedError):
    """The job queue needs PostgreSQL; the message says what to set."""


@dataclass(frozen=True)
class Site:
    """What a task works on: the worker's settings and open database."""

    settings: Settings
    db: Database


_site: Site | None = None


def site() -> Site:
    """The site the running worker serves (set by `run_worker`)."""
    if _site is None:
        raise RuntimeError("paperfeed tasks run inside `paperfeed worker`")
    return _site


def conninfo(settings: Settings) -> str:
    """The libpq connection string of the site's database (SQLAlchemy's URL less its driver)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        raise QueueUnavailable(
            "the job queue runs on PostgreSQL: set PAPERFEED_DATABASE_URL to a postgresql:// URL; "
            "on SQLite `paperfeed serve` does the background work itself"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# One app per process: the tasks of jobs/tasks.py are bound to it when first asked for.
_app = procrastinate.App(connector=procrastinate.PsycopgConnector())
_registered = False


def make_app(settings: Settings) -> procrastinate.App:
    """The process's procrastinate app, every paperfeed task registered, on the site's database."""
    global _registered
    if not _registered:
        from paperfeed.jobs import tasks

        _app.add_tasks_from(tasks.blueprint, namespace="paperfeed")
        _registered = True
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(settings))
    _app.connector = connector  # as App.replace_connector does, for the process's lifetime
    _app.job_manager.connector = connector
    return _app


def ensure_schema(settings: Settings) -> bool:
    """Install procrastinate's tables if they are missing; whether this call installed them."""
    with psycopg.connect(conninfo(settings)) as connection:
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SCHEMA_LOCK,))
        row = connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is not None and row[0] is not None:
            return False
        connection.execute(procrastinate.schema.SchemaManager.get_schema())
    log.info("installed the job queue's tables")
    return True


@contextmanager
def opened(settings: Settings) -> Iterator[procrastinate.App]:
    """The app, open for deferring jobs from synchronous code (the CLI)."""
    ensure_schema(settings)
    app = make_app(settings)
    with app.open():
        yield app


def run_worker(settings: Settings, db: Database, *, concurrency: int = 1) -> None:
    """Work jobs until SIGINT/SIGTERM: every queue, periodic tasks deferred once site-wide."""
    global _site
    ensure_schema(settings)
    _site = Site(settings, db)
    app = make_app(settings)
    # Sync tasks run in threads; concurrency > 1 runs that many at once.
    heartbeat = settings.queue_heartbeat_s
    app.run_worker(
        concurrency=concurrency,
        delete_jobs="successful",
        update_heartbeat_interval=heartbeat,
        stalled_worker_timeout=STALLED_BEATS * heartbeat,
    )
