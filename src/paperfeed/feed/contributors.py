"""Organization and author pages: their papers a page at a time with counts, and the index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from paperfeed.core.errors import NotFound
from paperfeed.core.paging import page_count, page_offset
from paperfeed.domain import Order, Paper, normalize_name
from paperfeed.feed.items import Card
from paperfeed.store import reader
from paperfeed.store.reader import AuthorCounts, OrganizationCounts


class OrganizationNotFound(NotFound):
    """No stored paper is attributed to an organization of this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no organization named {name[:200]!r}")
        self.name = name


class AuthorNotFound(NotFound):
    """No stored paper lists an author of this (normalized) name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no author named {name[:200]!r}")
        self.name = name


@dataclass(frozen=True)
class PaperList:
    """One page of an ordered list of papers, and how long the whole list is."""

    items: list[Card]
    sort: Order
    page: int  # from 1
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)


@dataclass(frozen=True)
class OrganizationPage:
    """An organization, its counts and one page of its papers."""

    organization: OrganizationCounts
    papers: PaperList


@dataclass(frozen=True)
class AuthorPage:
    """An author (every spelling of one normalized name), counts and one page of their papers."""

    author: AuthorCounts
    papers: PaperList


@dataclass(frozen=True)
class OrganizationIndex:
    """One page of the organizations with papers, those with the most papers first."""

    items: list[OrganizationCounts]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)


def organization_page(
    session: Session, name: str, *, sort: Order = "upvotes", page: int = 1, page_size: int = 50
) -> OrganizationPage:
    """The organization named `name` (as Hugging Face spells it) and a page of its papers."""
    counts = reader.organization(session, name)
    if counts is None:
        raise OrganizationNotFound(name)
    papers = reader.organization_papers(
        session, name, order=sort, offset=page_offset(page, page_size), limit=page_size
    )
    return OrganizationPage(counts, _paper_list(papers, sort, page, page_size))


def author_page(
    session: Session, name: str, *, sort: Order = "upvotes", page: int = 1, page_size: int = 50
) -> AuthorPage:
    """The author whose name normalizes as `name` does, and a page of their papers."""
    key = normalize_name(name)
    counts = reader.author(session, key) if key else None
    if counts is None:
        raise AuthorNotFound(name)
    papers = reader.author_papers(
        session,
        counts.author_id,
        order=sort,
        offset=page_offset(page, page_size),
        limit=page_size,
    )
    return AuthorPage(counts, _paper_list(papers, sort, page, page_size))


def organization_index(
    session: Session, *, page: int = 1, page_size: int = 50
) -> OrganizationIndex:
    """One page of the organizations, most papers first."""
    found = reader.organizations(session, offset=page_offset(page, page_size), limit=page_size)
    return OrganizationIndex(found.items, page, page_size, found.total)


def _paper_list(
    papers: reader.Slice[Paper], sort: Order, page: int, page_size: int
) -> PaperList:
    return PaperList([Card.of(p) for p in papers.items], sort, page, page_size, papers.total)
