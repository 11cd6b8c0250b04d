"""The trending score: upvotes that count for less the longer a paper has been featured.

    score = upvotes / (age_hours + 2) ** gravity        (gravity 1.8 by default)

This is Hacker News' ranking formula. `upvotes` is the paper's total (imported from Hugging
Face plus local votes); `age_hours` is the time since the paper was put on a daily list (its
`submittedOnDailyAt`, else the start of that day, UTC), or, for papers never featured, since
it was first published (else first announced). The +2 keeps brand-new papers from dividing by
almost nothing; with gravity 1.8 a paper 24 hours old needs about 8x the votes of a 6-hour-old
one to rank beside it, and a week-old one about 250x. Ties go to the newer paper, then the id.

Age is measured at a reference time: now, or the end of the period ranked when that period is
over, so an archived day ranks the same whenever it is viewed and a site whose last imported list
is months old still shows a meaningful order. The score is computed here in Python over the
period's candidates (at most a few thousand for a month), identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.core.clock import as_utc, start_of, utcnow
from paperfeed.domain import DailyEntry
from paperfeed.store import reader
from paperfeed.store.models import DailyEntryRow, PaperRow

DEFAULT_GRAVITY = 1.8
_HOURS_OFFSET = 2.0


@dataclass(frozen=True)
class Ranked:
    """One candidate with its score: `key` is a daily entry id or a paper id."""

    key: int | str
    score: float
    upvotes: int
    since: datetime


def score(upvotes: int, age_hours: float, gravity: float = DEFAULT_GRAVITY) -> float:
    """The trending score of `upvotes` gathered over `age_hours` (negative ages count as 0)."""
    return max(upvotes, 0) / (max(age_hours, 0.0) + _HOURS_OFFSET) ** gravity


def reference_time(last_day: date, now: datetime | None = None) -> datetime:
    """When ages are measured: now, or the end of `last_day` (UTC) if that is earlier."""
    now = as_utc(now) if now else utcnow()
    if last_day >= date.max:  # the day after the last day there is cannot be written
        return now
    return min(now, start_of(last_day + timedelta(days=1)))


def rank(candidates: list[Ranked], at: datetime, gravity: float = DEFAULT_GRAVITY) -> list[Ranked]:
    """The candidates with scores at time `at`, highest first."""
    scored = [
        Ranked(c.key, score(c.upvotes, (at - c.since).total_seconds() / 3600, gravity),
               c.upvotes, c.since)
        for c in candidates
    ]  # fmt: skip
    return sorted(scored, key=lambda r: (-r.score, -r.since.timestamp(), str(r.key)))


def rank_entries(
    session: Session,
    first: date,
    last: date,
    *,
    now: datetime | None = None,
    gravity: float = DEFAULT_GRAVITY,
    submitter: str | None = None,
) -> list[Ranked]:
    """The daily listings from `first` to `last`, by trending score (keys are entry ids)."""
    entries, papers = DailyEntryRow.__table__, PaperRow.__table__
    query = (
        select(
            entries.c.id,
            entries.c.day,
            entries.c.submitted_at,
            (papers.c.upvotes_base + papers.c.upvotes_local).label("upvotes"),
        )
        .join(papers, papers.c.id == entries.c.paper_id)
        .where(entries.c.day.between(first, last))
    )
    if submitter is not None:
        query = query.where(entries.c.submitted_by == submitter)
    candidates = [
        Ranked(row.id, 0.0, row.upvotes or 0, row.submitted_at or start_of(row.day))
        for row in session.execute(query)
    ]
    return rank(candidates, reference_time(last, now), gravity)


def rank_papers(
    session: Session,
    first: date,
    last: date,
    *,
    now: datetime | None = None,
    gravity: float = DEFAULT_GRAVITY,
) -> list[Ranked]:
    """Papers first announced from `first` to `last`, by trending score (keys are paper ids)."""
    papers = PaperRow.__table__
    query = select(
        papers.c.id,
        papers.c.published_at,
        papers.c.announced_on,
        (papers.c.upvotes_base + papers.c.upvotes_local).label("upvotes"),
    ).where(papers.c.announced_on.between(first, last))
    candidates = [
        Ranked(
            row.id, 0.0, row.upvotes or 0,
            row.published_at or start_of(row.announced_on),
        )
        for row in session.execute(query)
    ]  # fmt: skip
    return rank(candidates, reference_time(last, now), gravity)


def rank_period(
    session: Session,
    first: date,
    last: date,
    *,
    now: datetime | None = None,
    gravity: float = DEFAULT_GRAVITY,
) -> tuple[list[Ranked], set[str]]:
    """Every paper of a period, featured on its daily lists or first announced in it, by
    trending score (keys are paper ids), and the ids of the featured ones.

    A featured paper's age counts from its earliest listing in the period (its submission time,
    else the start of that day); any other paper's from its publication (else announcement).
    """
    entries, papers = DailyEntryRow.__table__, PaperRow.__table__
    upvotes = (papers.c.upvotes_base + papers.c.upvotes_local).label("upvotes")
    since: dict[str, datetime] = {}
    votes: dict[str, int] = {}
    listed = (
        select(entries.c.paper_id, entries.c.day, entries.c.submitted_at, upvotes)
        .join(papers, papers.c.id == entries.c.paper_id)
        .where(entries.c.day.between(first, last))
    )
    for row in session.execute(listed):
        start = row.submitted_at or start_of(row.day)
        since[row.paper_id] = min(start, since.get(row.paper_id, start))
        votes[row.paper_id] = row.upvotes or 0
    featured = set(since)
    announced = select(papers.c.id, papers.c.published_at, papers.c.announced_on, upvotes).where(
        papers.c.announced_on.between(first, last)
    )
    for row in session.execute(announced):
        if row.id not in since:
            since[row.id] = row.published_at or start_of(row.announced_on)
            votes[row.id] = row.upvotes or 0
    candidates = [Ranked(key, 0.0, votes[key], start) for key, start in since.items()]
    return rank(candidates, reference_time(last, now), gravity), featured


@dataclass(frozen=True)
class TrendingPage:
    """One page of /trending: the days ranked, the entries on this page and how many in all."""

    first: date | None
    last: date | None
    entries: list[DailyEntry]
    scores: list[float]  # of the entries, in the same order
    total: int


def trending_page(
    session: Session,
    *,
    days: int,
    page: int = 1,
    page_size: int = 50,
    now: datetime | None = None,
    gravity: float = DEFAULT_GRAVITY,
) -> TrendingPage:
    """The daily lists of the last `days` days with papers, ranked by trending score."""
    last = reader.latest_day(session, "featured")
    if last is None:
        return TrendingPage(None, None, [], [], 0)
    first = last - timedelta(days=days - 1)
    ranked = rank_entries(session, first, last, now=now, gravity=gravity)
    window = ranked[(page - 1) * page_size : page * page_size]
    entries = reader.entries_by_ids(session, [int(r.key) for r in window])
    return TrendingPage(first, last, entries, [r.score for r in window], len(ranked))
