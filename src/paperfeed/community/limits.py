"""Rate limits: how often one account or one address may do something, counted in the database.

Every limit is a `Rate` (at most `hits` in a fixed `window`) of one action for one key: an
account ("user:42") or a client address ("addr:203.0.113.9"). A hit increments the counter of
the current window with one statement the database applies atomically:

    INSERT ... ON CONFLICT (key) DO UPDATE SET hits = hits + 1 WHERE hits < :cap RETURNING hits

so concurrent requests, in any number of worker processes on SQLite or PostgreSQL, never pass a
cap together (the daily submission cap is one of these). A hit commits in its own transaction: a
request that fails afterwards still counted. Windows are aligned to the Unix epoch, so a day's
window is a UTC day. Every limit an operator can change is in `DEFAULT_RATES`, overridden by
`PAPERFEED_RATE_LIMITS` (e.g. `{"comment.user": "20/1h"}`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from paperfeed.core.clock import as_utc, utcnow
from paperfeed.core.errors import RateLimited
from paperfeed.settings import Settings
from paperfeed.store.dialect import insert
from paperfeed.store.models import RateLimitRow

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """At most `hits` in each window of `window_s` seconds."""

    hits: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """'10/1h' is 10 an hour; units s, m, h, d."""
        match = _RATE.match(text)
        if not match or int(match.group(2)) == 0:
            raise ValueError(f"{text!r} is not a rate such as 10/1h (hits / window, s m h d)")
        return cls(int(match.group(1)), int(match.group(2)) * _UNITS[match.group(3)])

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_s)


# Action names say what is counted and per what; `.user` is per account, `.addr` per address.
DEFAULT_RATES: dict[str, Rate] = {
    "login.addr": Rate(20, 15 * 60),  # failed log-ins from one address, any username
    "register.addr": Rate(5, 3600),
    "vote.user": Rate(120, 60),
    "vote.addr": Rate(300, 60),
    "comment.user": Rate(10, 600),
    "comment.addr": Rate(30, 600),
    "submit.addr": Rate(20, 86400),
    "token.user": Rate(10, 3600),
    "token.addr": Rate(30, 3600),
    "search.user": Rate(120, 60),
    "search.addr": Rate(120, 60),
}


def rates_from_settings(settings: Settings) -> dict[str, Rate]:
    """DEFAULT_RATES with the operator's overrides and the limits that have their own setting."""
    rates = dict(DEFAULT_RATES)
    rates["login.user"] = Rate(settings.login_max_failures, settings.login_window_minutes * 60)
    rates["submit.user"] = Rate(settings.submit_daily_cap, 86400)
    for action, text in settings.rate_limits.items():
        rates[action] = Rate.parse(text)
    return rates


def window_of(rate: Rate, now: datetime) -> tuple[int, datetime]:
    """The number of the window `now` falls in, and when that window ends."""
    epoch = now.timestamp()
    number = math.floor(epoch / rate.window_s)
    return number, datetime.fromtimestamp((number + 1) * rate.window_s, tz=now.tzinfo)


class Limits:
    """The site's rate limits over one database (each hit in its own committed transaction)."""

    def __init__(self, sessions: sessionmaker[Session], rates: Mapping[str, Rate]) -> None:
        self.sessions = sessions
        self.rates = dict(rates)

    def with_rates(self, rates: Mapping[str, Rate]) -> Limits:
        """The same counters with some rates replaced (a rule object carries its own cap)."""
        return Limits(self.sessions, {**self.rates, **rates})

    def hit(
        self,
        checks: Iterable[tuple[str, str]],
        *,
        now: datetime | None = None,
        messages: Mapping[str, str] | None = None,
    ) -> None:
        """Count one hit of each (action, key); RateLimited (none counted) if any is at its cap.

        An action with no rate is not limited; one whose rate allows 0 hits is always refused.
        `messages` gives the refusal's text per action (default: when to try again).
        """
        now = as_utc(now) if now else utcnow()
        with self.sessions() as session, session.begin():
            refused = _hit_all(session, self.rates, list(checks), now)
            if refused is not None:
                session.rollback()
                wait, action = refused
                raise RateLimited((messages or {}).get(action) or _message(wait), wait)

    def used(self, action: str, key: str, *, now: datetime | None = None) -> int:
        """How many hits (action, key) has in the current window."""
        rate = self.rates.get(action)
        if rate is None:
            return 0
        now = as_utc(now) if now else utcnow()
        number, _ends = window_of(rate, now)
        with self.sessions() as session:
            hits = session.scalar(
                select(RateLimitRow.hits).where(RateLimitRow.key == _row_key(action, key, number))
            )
        return hits or 0

    def clear(self, action: str, key: str, *, now: datetime | None = None) -> None:
        """Forget the current window's hits of (action, key) (a successful log-in)."""
        rate = self.rates.get(action)
        if rate is None:
            return
        number, _ends = window_of(rate, as_utc(now) if now else utcnow())
        with self.sessions() as session, session.begin():
            session.execute(
                delete(RateLimitRow).where(RateLimitRow.key == _row_key(action, key, number))
            )

    def refund(self, action: str, key: str, *, now: datetime | None = None) -> None:
        """Take one hit back (a log-in that turned out right does not count as a failure)."""
        rate = self.rates.get(action)
        if rate is None:
            return
        number, _ends = window_of(rate, as_utc(now) if now else utcnow())
        with self.sessions() as session, session.begin():
            session.execute(
                update(RateLimitRow)
                .where(RateLimitRow.key == _row_key(action, key, number), RateLimitRow.hits > 0)
                .values(hits=RateLimitRow.hits - 1)
            )


def _hit_all(
    session: Session, rates: Mapping[str, Rate], checks: list[tuple[str, str]], now: datetime
) -> tuple[int, str] | None:
    """Count the hits; (the longest wait in seconds, its action) if one is over its cap."""
    session.execute(delete(RateLimitRow).where(RateLimitRow.expires_at <= now))
    longest: tuple[int, str] | None = None
    for action, key in checks:
        rate = rates.get(action)
        if rate is None:
            continue
        number, ends = window_of(rate, now)
        wait = max(1, math.ceil((ends - now).total_seconds()))
        if rate.hits <= 0:
            longest = max(longest or (0, ""), (wait, action))
            continue
        table = RateLimitRow.__table__
        statement = insert(session, table).values(
            key=_row_key(action, key, number), hits=1, expires_at=ends
        )
        counted = session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"],
                set_={"hits": table.c.hits + 1},
                where=table.c.hits < rate.hits,
            ).returning(table.c.hits)
        ).first()
        if counted is None:
            longest = max(longest or (0, ""), (wait, action))
    return longest


def _row_key(action: str, key: str, window: int) -> str:
    return f"{action}|{key[:200]}|{window}"


def _message(wait_s: int) -> str:
    if wait_s < 120:
        return f"Too many requests like this one; try again in {wait_s} seconds."
    minutes = math.ceil(wait_s / 60)
    if minutes < 120:
        return f"Too many requests like this one; try again in {minutes} minutes."
    return f"Too many requests like this one; try again in {math.ceil(minutes / 60)} hours."


# Actions so frequent and cheap that one database write each would be their main cost.
BATCHED_ACTIONS = frozenset({"search"})


@dataclass
class _Tally:
    window: int
    ends: datetime
    shared: int = 0  # the database's count when last written, all nodes together
    pending: int = 0  # hits here not yet written
    written_at: float = 0.0


class BatchedLimits:
    """Rate limits counted in memory and added to the shared database counters in batches.

    Each process counts its own hits and writes them (one UPSERT adding the batch) every
    `batch` hits of a key or every `flush_s` seconds, reading back the total of all processes
    and nodes. A key is refused once that total plus its unwritten hits reaches the cap, so the
    limit holds across nodes to within one unwritten batch per other process.
    """

    def __init__(self, limits: Limits, *, flush_s: float = 1.0, max_batch: int = 25) -> None:
        self.limits = limits
        self.flush_s = flush_s
        self.max_batch = max_batch
        self._tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()

    def hit(self, checks: Iterable[tuple[str, str]], *, now: datetime | None = None) -> None:
        """Count one hit of each (action, key); RateLimited (none counted) if any is at its cap."""
        now = as_utc(now) if now else utcnow()
        flush: list[tuple[str, _Tally, int]] = []
        with self._lock:
            if len(self._tallies) > 50_000:
                self._tallies = {k: t for k, t in self._tallies.items() if t.ends > now}
            counted: list[tuple[str, Rate, _Tally]] = []
            for action, key in checks:
                rate = self.limits.rates.get(action)
                if rate is None:
                    continue
                number, ends = window_of(rate, now)
                row_key = _row_key(action, key, number)
                tally = self._tallies.get(row_key)
                if tally is None:
                    tally = self._tallies[row_key] = _Tally(number, ends)
                if tally.shared + tally.pending >= rate.hits:
                    wait = max(1, math.ceil((ends - now).total_seconds()))
                    raise RateLimited(_message(wait), wait)
                counted.append((row_key, rate, tally))
            clock = time.monotonic()
            for row_key, rate, tally in counted:
                tally.pending += 1
                batch = max(1, min(self.max_batch, rate.hits // 20))
                if tally.pending >= batch or clock - tally.written_at >= self.flush_s:
                    flush.append((row_key, tally, tally.pending))
                    tally.pending, tally.written_at = 0, clock
        for row_key, tally, hits in flush:
            total = self._add(row_key, tally.ends, hits)
            with self._lock:
                tally.shared = max(tally.shared, total)

    def _add(self, row_key: str, ends: datetime, hits: int) -> int:
        with self.limits.sessions() as session, session.begin():
            table = RateLimitRow.__table__
            statement = insert(session, table).values(key=row_key, hits=hits, expires_at=ends)
            total = session.execute(
                statement.on_conflict_do_update(
                    index_elements=["key"], set_={"hits": table.c.hits + hits}
                ).returning(table.c.hits)
            ).scalar_one()
        return int(total)
