"""Engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from paperfeed.core.errors import Unavailable
from paperfeed.store import site_version
from paperfeed.store.paper_cache import PaperCache


class DatabaseUnavailable(Unavailable):
    """The database server is not answering: down, restarting, or it cut the connection.

    The site answers 503 with Retry-After; the next request reconnects (pool_pre_ping)."""

    retry_after_s = 5
    MESSAGE = "The database is not answering; try again in a moment."

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pool: dict[str, int] = {}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # A request may hold a session while a helper opens another (its viewer, a rate
            # limit): with 40 request threads, 5+10 pooled connections could all wait on a
            # second. SQLite connections are cheap: room for every thread twice over.
            pool = {"pool_size": 40, "max_overflow": 80, "pool_timeout": 60}
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")  # the driver paperfeed installs
    # A pooled connection the server dropped (a restart, pg_terminate_backend) is found by the
    # ping at checkout and replaced; what still fails while the server is away is a 503.
    engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "handle_error", _unavailable_when_disconnected)
    return engine


def _unavailable_when_disconnected(context: ExceptionContext) -> None:
    """A connection lost in use, or refused when opened, raises DatabaseUnavailable instead of a
    driver error (which the site would answer with a 500 and a traceback in its log)."""
    if context.is_pre_ping:
        return  # the pool reconnects on its own after a failed ping
    refused = context.connection is None and isinstance(
        context.sqlalchemy_exception, sa_exc.OperationalError
    )
    if context.is_disconnect or refused:
        raise DatabaseUnavailable() from context.original_exception


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web server read while an import writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together at the end, or not at all."""
    with factory() as session, session.begin():
        yield session


class Database:
    """An open database: its engine and a session factory, schema migrated on open.

    Use it as a context manager (`with Database(url) as db:`) so its connections are closed.
    """

    def __init__(self, database_url: str, *, migrate: bool = True) -> None:
        self.url = database_url
        self.engine = make_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        # Public writes raise the site version; this process rereads it at once after its own.
        self.site_version = site_version.VersionReader(self.sessions, interval_s=1.0)
        site_version.watch(self.sessions, on_commit=self.site_version.forget)
        # Stored papers as pages show them, kept while the site version stands.
        self.papers = PaperCache()
        if migrate:
            from paperfeed.store.migrate import upgrade

            upgrade(self.engine)

    def transaction(self) -> AbstractContextManager[Session]:
        """A session whose work commits together at the end, or not at all."""
        return transaction(self.sessions)

    def close(self) -> None:
        """Close every pooled connection (the object can open new ones if used again)."""
        self.site_version.close()
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
