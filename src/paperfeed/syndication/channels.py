"""Which papers each subscribable feed carries: daily list, trending, organization, author."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

from sqlalchemy.orm import Session

from paperfeed.core.clock import start_of
from paperfeed.domain import DailyEntry, Paper
from paperfeed.feed.contributors import author_page, organization_page
from paperfeed.feed.service import default_scope, feed_page
from paperfeed.rank import trending as trending_rank
from paperfeed.store import reader
from paperfeed.syndication.render import Channel, FeedEntry


def daily(session: Session, *, site_name: str, limit: int) -> Channel:
    """The latest day's list, most upvoted first (what /papers shows)."""
    page = feed_page(session, None, sort="upvotes", page_size=limit)
    entries = [
        FeedEntry(item.paper, _listed_at(item.entry) if item.entry else _midnight(item.day))
        for item in page.items
    ]
    label = page.period.label if page.period else "no papers yet"
    return Channel(
        title=f"{site_name}: daily papers",
        description=f"Papers of the latest daily list ({label}), most upvoted first.",
        page_path="/papers",
        entries=entries,
    )


def trending(
    session: Session,
    *,
    site_name: str,
    limit: int,
    days: int,
    gravity: float = trending_rank.DEFAULT_GRAVITY,
) -> Channel:
    """The papers featured in the last `days` days, by trending score (rank.trending).

    The web layer passes the site's trending settings, so the feed ranks as /trending does.
    """
    description = f"Papers of the last {days} days of daily lists, trending first."
    channel = Channel(f"{site_name}: trending papers", description, "/trending", [])
    scope = default_scope(session)
    last = reader.latest_day(session, scope)
    if last is None:
        return channel
    first = last - timedelta(days=days - 1)
    found: dict[str, FeedEntry] = {}  # a paper listed on two days appears once, where it ranks
    if scope == "featured":
        ranked = trending_rank.rank_entries(session, first, last, gravity=gravity)
        for entry in reader.entries_by_ids(session, [int(r.key) for r in ranked[: limit * 2]]):
            found.setdefault(entry.paper.arxiv_id, FeedEntry(entry.paper, _listed_at(entry)))
    else:
        ranked = trending_rank.rank_papers(session, first, last, gravity=gravity)
        ids = [str(r.key) for r in ranked[:limit]]
        papers = reader.load_papers(session, ids)
        found = {i: FeedEntry(papers[i], _first_seen(papers[i])) for i in ids}
    return Channel(channel.title, description, channel.page_path, list(found.values())[:limit])


def organization(session: Session, name: str, *, site_name: str, limit: int) -> Channel:
    """An organization's newest papers (raises OrganizationNotFound)."""
    page = organization_page(session, name, sort="newest", page_size=limit)
    org = page.organization.organization
    return Channel(
        title=f"{site_name}: papers from {org.fullname or org.name}",
        description=f"The newest papers attributed to {org.fullname or org.name}.",
        page_path=f"/orgs/{quote(org.name, safe='')}",
        entries=[FeedEntry(item.paper, _first_seen(item.paper)) for item in page.papers.items],
    )


def author(session: Session, name: str, *, site_name: str, limit: int) -> Channel:
    """An author's newest papers (raises AuthorNotFound)."""
    page = author_page(session, name, sort="newest", page_size=limit)
    return Channel(
        title=f"{site_name}: papers by {page.author.name}",
        description=f"The newest papers listing {page.author.name} as an author.",
        page_path=f"/authors/{quote(page.author.name, safe='')}",
        entries=[FeedEntry(item.paper, _first_seen(item.paper)) for item in page.papers.items],
    )


def _listed_at(entry: DailyEntry) -> datetime:
    """When a paper went on a daily list: its submission time, else the start of the day."""
    return entry.submitted_at or start_of(entry.day)


def _first_seen(paper: Paper) -> datetime | None:
    return paper.published_at or _midnight(paper.listed_on or paper.announced_on)


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time(0), UTC) if day else None
