"""The site version: numbers in the database that writes raise, read cheaply, keying page caches.

Page caches on any number of web nodes key what they keep by it. Rather than each write
remembering to raise it, the session factory watches what its sessions write (flushed objects
and INSERT/UPDATE/DELETE statements) and, when a transaction touched a table that shows on
public pages (votes, comments, papers and listings from imports, submissions, collections, ...),
raises the version in the same transaction, just before it commits. Tables only their owner
sees do not count there; of those, the ones that change what a logged-in reader's own pages
show (log-ins, tokens, "not interested", digest subscriptions, what the recommender keeps)
raise a second number, the *reader version*, that only caches of logged-in pages check.
Bookkeeping (rate-limit counters, the outbox, checkpoints, the search change log) raises none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from paperfeed.core.clock import utcnow
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import SiteVersionRow

# Writes to these tables change nothing an anonymous visitor sees ...
# Stored vectors count only once they join a search index: the index builder raises the
# version then (`raise_site`), once, where every committed chunk of a backfill raised it (and
# so emptied every page cache every few seconds for the hours a first backfill takes).
PRIVATE_TABLES = frozenset({
    "site_version", "rate_limits", "login_sessions", "api_tokens", "digest_outbox",
    "subscriptions", "dismissals", "reader_state", "checkpoints", "search_changes",
    "alembic_version", "paper_embeddings",
})  # fmt: skip
# ... but these change what their owner sees on their own pages: they raise the reader version.
READER_TABLES = frozenset({
    "login_sessions", "api_tokens", "subscriptions", "dismissals", "reader_state",
})  # fmt: skip
SITE, READERS = 1, 2  # the rows of the two numbers
_EPOCH = datetime.fromtimestamp(0, UTC)
_TOUCHED = "paperfeed_public_write"
_TOUCHED_READER = "paperfeed_reader_write"


@dataclass(frozen=True)
class Version:
    """The site's version number and when it was last raised, and the reader version."""

    number: int
    changed_at: datetime
    reader: int = 0
    reader_changed_at: datetime = _EPOCH


def watch(factory: sessionmaker[Session], on_commit: Callable[[], None] | None = None) -> None:
    """Make the sessions of `factory` raise the site version when they commit a public write.

    `on_commit` runs after such a commit (this process's readers forget their cached version).
    """
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "do_orm_execute", _do_orm_execute)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_rollback", _forget)

    def after_commit(session: Session) -> None:
        if session.info.pop(_TOUCHED + ".raised", False) and on_commit is not None:
            on_commit()

    event.listen(factory, "after_commit", after_commit)


_TABLE = SiteVersionRow.__table__
# A plain statement, compiled once and run on the session's connection: a tenth of the ORM's
# cost, and every cached page and search reads it.
_READ = select(_TABLE.c.id, _TABLE.c.version, _TABLE.c.changed_at).where(
    _TABLE.c.id.between(SITE, READERS)
)


def read(session: Session) -> Version:
    """The current versions (one read of two rows by their primary key)."""
    return _version(session.connection().execute(_READ))


def _version(result: Any) -> Version:
    rows = {row[0]: (int(row[1]), row[2]) for row in result}
    never = (0, _EPOCH)
    site, readers = rows.get(SITE, never), rows.get(READERS, never)
    return Version(site[0], site[1], readers[0], readers[1])


def raise_site(session: Session) -> None:
    """Raise the site version when `session` commits, as a public write would: for changes
    public pages show that are not table writes (a new search index)."""
    session.info[_TOUCHED] = True


def _mark(session: Session, table: str | None) -> None:
    if table not in PRIVATE_TABLES:
        session.info[_TOUCHED] = True
    elif table in READER_TABLES:
        session.info[_TOUCHED_READER] = True


def _after_flush(session: Session, _context: Any) -> None:
    for item in (*session.new, *session.dirty, *session.deleted):
        _mark(session, getattr(getattr(item, "__table__", None), "name", None))


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    _mark(state.session, getattr(getattr(state.statement, "table", None), "name", None))


def _before_commit(session: Session) -> None:
    session.flush()  # what is still pending counts too
    rows = [
        row
        for row, key in ((SITE, _TOUCHED), (READERS, _TOUCHED_READER))
        if session.info.pop(key, False)
    ]
    if not rows:
        return
    now = utcnow()
    raised = session.execute(
        update(SiteVersionRow)
        .where(SiteVersionRow.id.in_(rows))
        .values(version=SiteVersionRow.version + 1, changed_at=now)
    )
    if rowcount(raised) < len(rows):  # a row a restore or an old database lacks: start it at 1
        session.execute(
            insert(session, SiteVersionRow.__table__)
            .values([{"id": row, "version": 1, "changed_at": now} for row in rows])
            .on_conflict_do_nothing(index_elements=["id"])
        )
    session.info[_TOUCHED + ".raised"] = True


def _forget(session: Session) -> None:
    for key in (_TOUCHED, _TOUCHED_READER, _TOUCHED + ".raised"):
        session.info.pop(key, None)


class VersionReader:
    """The site version as this process knows it: read again at most every `interval_s`
    seconds, and at once after this process itself raised it."""

    def __init__(self, factory: sessionmaker[Session], interval_s: float) -> None:
        self.factory = factory
        self.interval_s = interval_s
        self._known: Version | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._inline: Connection | None = None  # current_nowait's, on SQLite

    def stale(self) -> bool:
        """Whether the next `current()` reads the database."""
        return self._known is None or time.monotonic() - self._read_at >= self.interval_s

    def current(self) -> Version:
        """The version, from the database when the known one is older than the interval."""
        if not self.stale() and self._known is not None:
            return self._known
        with self._lock, self.factory() as session:
            self._known = read(session)
            self._read_at = time.monotonic()
            return self._known

    def current_nowait(self) -> Version | None:
        """The version without waiting on anything: the known one while fresh; on SQLite a read
        on the calling thread; None where only `current()` on a worker thread can tell (other
        databases are a round trip away; SQLite busy; another thread reading).

        A page cache asks on every cached answer, so on SQLite this saves each one a trip to
        a worker thread and back, which cost four times the read itself (17 us: one connection
        kept for it, autocommit, so it never holds a snapshot that would stall checkpoints).
        A SQLite reader in WAL mode does not wait on writers; it is told not to wait at all."""
        if not self.stale() and self._known is not None:
            return self._known
        if not self._lock.acquire(blocking=False):
            return None
        try:
            connection = self._inline_connection()
            if connection is None:
                return None
            try:
                self._known = _version(connection.execute(_READ))
            except OperationalError:  # busy, or the file gone: the caller asks a thread
                return None
            self._read_at = time.monotonic()
            return self._known
        finally:
            self._lock.release()

    def _inline_connection(self) -> Connection | None:
        if self._inline is None:
            engine = self.factory.kw.get("bind")
            if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
                return None
            connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout = 0")  # on the driver: no statement to log
            self._inline = connection
        return self._inline

    def close(self) -> None:
        """Give back the connection kept for reads on the calling thread (if any)."""
        with self._lock:
            if self._inline is not None:
                self._inline.invalidate()  # not back to the pool: it waits on no lock
                self._inline.close()
            self._inline = None

    def forget(self) -> None:
        """Read the database on the next call (this process just raised the version)."""
        self._read_at = 0.0
