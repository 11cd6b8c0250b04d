"""The site version: a number in the database that every public write raises, read cheaply.

Page caches on any number of web nodes key what they keep by it. Rather than each write
remembering to raise it, the session factory watches what its sessions write (flushed objects
and INSERT/UPDATE/DELETE statements) and, when a transaction touched a table that shows on
public pages (votes, comments, papers and listings from imports, submissions, collections, ...),
raises the version in the same transaction, just before it commits. Tables only their owner
sees (log-ins, tokens, rate-limit counters, the digest outbox, reader signals) do not count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from paperfeed.core.clock import utcnow
from paperfeed.store.models import SiteVersionRow

# Writes to these tables change nothing an anonymous visitor sees.
PRIVATE_TABLES = frozenset({
    "site_version", "rate_limits", "login_sessions", "api_tokens", "digest_outbox",
    "subscriptions", "dismissals", "reader_state", "checkpoints", "search_changes",
    "alembic_version",
})  # fmt: skip
_TOUCHED = "paperfeed_public_write"


@dataclass(frozen=True)
class Version:
    """The site's version number and when it was last raised."""

    number: int
    changed_at: datetime


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


def read(session: Session) -> Version:
    """The current version (one read of one row by its primary key)."""
    row = session.execute(
        select(SiteVersionRow.version, SiteVersionRow.changed_at).where(SiteVersionRow.id == 1)
    ).first()
    if row is None:
        return Version(0, datetime.fromtimestamp(0, UTC))
    return Version(int(row[0]), row[1])


def _after_flush(session: Session, _context: Any) -> None:
    for item in (*session.new, *session.dirty, *session.deleted):
        table = getattr(getattr(item, "__table__", None), "name", None)
        if table not in PRIVATE_TABLES:
            session.info[_TOUCHED] = True
            return


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table not in PRIVATE_TABLES:
        state.session.info[_TOUCHED] = True


def _before_commit(session: Session) -> None:
    session.flush()  # what is still pending counts too
    if not session.info.pop(_TOUCHED, False):
        return
    session.execute(
        update(SiteVersionRow)
        .where(SiteVersionRow.id == 1)
        .values(version=SiteVersionRow.version + 1, changed_at=utcnow())
    )
    session.info[_TOUCHED + ".raised"] = True


def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_TOUCHED + ".raised", None)


class VersionReader:
    """The site version as this process knows it: read again at most every `interval_s`
    seconds, and at once after this process itself raised it."""

    def __init__(self, factory: sessionmaker[Session], interval_s: float) -> None:
        self.factory = factory
        self.interval_s = interval_s
        self._known: Version | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

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

    def forget(self) -> None:
        """Read the database on the next call (this process just raised the version)."""
        self._read_at = 0.0
