"""Feed periods: a day (YYYY-MM-DD), an ISO week (YYYY-Www) or a month (YYYY-MM)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from paperfeed.core.errors import Invalid

PeriodKind = Literal["day", "week", "month"]

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DASH = " \u2013 "  # en dash between the first and last day
_EXAMPLES = {"day": "2025-06-10", "week": "2025-W24", "month": "2025-06"}


class InvalidPeriod(Invalid):
    """A day, week or month written in a form paperfeed does not understand."""


@dataclass(frozen=True)
class Period:
    """A span of days a feed page covers, first and last day included."""

    kind: PeriodKind
    first: date
    last: date

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        """The day, ISO week or month that `day` falls in."""
        if kind == "day":
            return cls("day", day, day)
        if kind == "week":
            monday = day - timedelta(days=day.weekday())
            return cls("week", monday, monday + timedelta(days=min(6, (date.max - monday).days)))
        last = calendar.monthrange(day.year, day.month)[1]
        return cls("month", day.replace(day=1), day.replace(day=last))

    @property
    def slug(self) -> str:
        """How the period is written in URLs and the API: 2025-06-10, 2025-W24, 2025-06."""
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first.year}-{self.first.month:02d}"

    @property
    def label(self) -> str:
        """A heading for people: 'Tuesday, 10 June 2025', 'Week 24, 2025', 'June 2025'."""
        if self.kind == "day":
            return f"{self.first:%A}, {self.first.day} {self.first:%B %Y}"
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"Week {week}, {year}"
        return f"{self.first:%B %Y}"

    @property
    def span(self) -> str:
        """The first and last day, for a subtitle: '9 to 15 June 2025' (with an en dash)."""
        first, last = self.first, self.last
        if first == last:
            return f"{first.day} {first:%B %Y}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}{_DASH}{last.day} {last:%B %Y}"
        if first.year == last.year:
            return f"{first.day} {first:%B}{_DASH}{last.day} {last:%B %Y}"
        return f"{first.day} {first:%B %Y}{_DASH}{last.day} {last:%B %Y}"


def parse_period(kind: PeriodKind, text: str) -> Period:
    """The period a URL or API parameter names; raises InvalidPeriod with a helpful message."""
    try:
        if kind == "day" and (match := _DAY.match(text)):
            year, month, day = map(int, match.groups())
            return Period.containing("day", date(year, month, day))
        if kind == "week" and (match := _WEEK.match(text)):
            year, week = map(int, match.groups())
            return Period.containing("week", date.fromisocalendar(year, week, 1))
        if kind == "month" and (match := _MONTH.match(text)):
            year, month = map(int, match.groups())
            return Period.containing("month", date(year, month, 1))
    except (ValueError, OverflowError) as error:
        raise InvalidPeriod(f"{text[:40]!r} is not a valid {kind}: {error}") from None
    form = {"day": "YYYY-MM-DD", "week": "YYYY-Www (ISO week)", "month": "YYYY-MM"}[kind]
    raise InvalidPeriod(
        f"{text[:40]!r} is not a {kind}; write it as {form}, e.g. {_EXAMPLES[kind]}"
    )
