"""The feed service: pages of papers for a period, with navigation, shared by web and API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from paperfeed.core.paging import page_count, page_offset
from paperfeed.domain import DailyEntry, Order, Paper, PaperNotFound, Sort
from paperfeed.feed.items import Card
from paperfeed.feed.periods import Period, PeriodKind
from paperfeed.rank import trending
from paperfeed.store import reader
from paperfeed.store.paper_cache import PaperCache
from paperfeed.store.reader import Scope


@dataclass(frozen=True)
class FeedPage:
    """What a feed page shows: its period, one page of items, and where to go next."""

    period: Period | None  # None only on a site with no papers in the scope
    scope: Scope
    sort: Sort
    page: int  # from 1
    page_size: int
    total: int
    items: list[Card]
    previous: Period | None = None  # the closest earlier period with papers
    next: Period | None = None  # the closest later period with papers

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    @property
    def entries(self) -> list[DailyEntry]:
        """The daily listings on this page (featured scope)."""
        return [item.entry for item in self.items if item.entry is not None]


@dataclass(frozen=True)
class PaperDetail:
    """A paper with every day it was featured on a daily list."""

    paper: Paper
    listings: list[DailyEntry]


def default_scope(session: Session) -> Scope:
    """'featured' (the daily lists), or 'all' on a site that has never imported one."""
    return "featured" if reader.has_daily_entries(session) else "all"


def latest_period(session: Session, kind: PeriodKind, scope: Scope) -> Period | None:
    """The most recent day, week or month with papers in the scope."""
    day = reader.latest_day(session, scope)
    return Period.containing(kind, day) if day else None


def feed_page(
    session: Session,
    period: Period | None,
    *,
    scope: Scope | None = None,
    sort: Sort = "upvotes",
    page: int = 1,
    page_size: int = 50,
    submitter: str | None = None,
    now: datetime | None = None,
    gravity: float = trending.DEFAULT_GRAVITY,
    papers: PaperCache | None = None,
) -> FeedPage:
    """One page of the feed for `period` (default: the latest day with papers).

    `now` and `gravity` matter only to sort="trending" (see paperfeed.rank.trending). With
    `papers`, the page's papers come through that cache of stored papers.
    """
    scope = scope or default_scope(session)
    period = period or latest_period(session, "day", scope)
    if period is None:
        return FeedPage(None, scope, sort, page, page_size, 0, [])
    order: Order = "upvotes" if sort == "upvotes" else "newest"
    offset = page_offset(page, page_size)
    load = papers.at(session).load if papers is not None else None
    if sort == "trending" and scope == "featured":
        ranked = trending.rank_entries(
            session, period.first, period.last, now=now, gravity=gravity, submitter=submitter
        )
        entry_ids = [int(r.key) for r in ranked[offset : offset + page_size]]
        items = [Card.listed(entry) for entry in reader.entries_by_ids(session, entry_ids, load)]
        total = len(ranked)
    elif sort == "trending":
        ranked = trending.rank_papers(session, period.first, period.last, now=now, gravity=gravity)
        paper_ids = [str(r.key) for r in ranked[offset : offset + page_size]]
        loaded = load(paper_ids) if load is not None else reader.load_papers(session, paper_ids)
        items = [Card.announced(loaded[i]) for i in paper_ids]
        total = len(ranked)
    elif scope == "featured":
        entries = reader.daily_entries(
            session, period.first, period.last, order=order, offset=offset, limit=page_size,
            submitter=submitter, papers=load,
        )  # fmt: skip
        items = [Card.listed(entry) for entry in entries.items]
        total = entries.total
    else:
        announced = reader.announced_papers(
            session, period.first, period.last, order=order, offset=offset, limit=page_size
        )
        items = [Card.announced(paper) for paper in announced.items]
        total = announced.total
    before = reader.day_before(session, period.first, scope)
    after = reader.day_after(session, period.last, scope)
    return FeedPage(
        period=period,
        scope=scope,
        sort=sort,
        page=page,
        page_size=page_size,
        total=total,
        items=items,
        previous=Period.containing(period.kind, before) if before else None,
        next=Period.containing(period.kind, after) if after else None,
    )


def paper_detail(session: Session, arxiv_id: str) -> PaperDetail:
    """The stored paper with this id (without version) and its daily listings."""
    paper = reader.get_paper(session, arxiv_id)
    if paper is None:
        raise PaperNotFound(arxiv_id)
    return PaperDetail(paper, reader.listings_of(session, paper))
