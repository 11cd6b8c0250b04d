"""The clock: aware UTC datetimes everywhere, and the one conversion for values from outside."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def utcnow() -> datetime:
    """Now, in UTC (timezone-aware: every datetime inside paperfeed is)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive value (from a caller or an old row) is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), UTC)
