"""Read queries: stored rows back into domain Papers and DailyEntries, a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, Literal, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session

from paperfeed.domain import Author, DailyEntry, Order, Organization, Paper, Submitter
from paperfeed.store.models import (
    AuthorRow,
    DailyEntryRow,
    OrganizationRow,
    PaperAuthorRow,
    PaperRow,
)

# "featured": papers on a daily list (daily_entries); "all": papers by first arXiv listing day.
Scope = Literal["featured", "all"]

_CHUNK = 500  # ids per IN (...) list, under both databases' bound-parameter limits

_papers = PaperRow.__table__
_entries = DailyEntryRow.__table__
_paper_authors = PaperAuthorRow.__table__
_orgs = OrganizationRow.__table__
# Every author read is built with both fields set: one set for all of them (the one pydantic
# would make for each, 64,000 sets in a worker's cache, each scanned by the garbage collector).
_AUTHOR_FIELDS = {"name", "hf_user"}
T = TypeVar("T")
# Reads papers by id (as load_papers does, e.g. through the process's cache of stored papers).
PaperLoader = Callable[[Sequence[str]], dict[str, Paper]]


@dataclass(frozen=True)
class Slice(Generic[T]):
    """One page of a longer ordered result, and how long the whole result is."""

    items: list[T]
    total: int


def daily_entries(
    session: Session,
    first: date,
    last: date,
    *,
    order: Order = "upvotes",
    offset: int = 0,
    limit: int = 50,
    submitter: str | None = None,
    papers: PaperLoader | None = None,
) -> Slice[DailyEntry]:
    """Daily listings from `first` to `last` (inclusive), one page of them, with the total;
    their papers read by `papers` (default: load_papers)."""
    where: list[ColumnElement[bool]] = [_entries.c.day.between(first, last)]
    if submitter is not None:
        where.append(_entries.c.submitted_by == submitter)
    total = session.scalar(select(func.count()).select_from(_entries).where(*where)) or 0
    query = (
        select(_entries, _papers.c.comments_local)
        .join(_papers, _papers.c.id == _entries.c.paper_id)
        .where(*where)
        .order_by(*_order_by(order), _entries.c.day.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = session.execute(query).mappings().all()
    loaded = _loader(session, papers)([row["paper_id"] for row in rows])
    return Slice([_entry(row, loaded[row["paper_id"]]) for row in rows], total)


def announced_papers(
    session: Session,
    first: date,
    last: date,
    *,
    order: Order = "upvotes",
    offset: int = 0,
    limit: int = 50,
) -> Slice[Paper]:
    """Papers first announced on arXiv from `first` to `last`, one page of them, with the total."""
    where = _papers.c.announced_on.between(first, last)
    return _paper_slice(session, where, order, offset, limit)


def has_daily_entries(session: Session) -> bool:
    """Whether any daily list was ever imported (a pure arXiv install has none)."""
    return session.scalar(select(_entries.c.id).limit(1)) is not None


def latest_day(session: Session, scope: Scope) -> date | None:
    """The most recent day with papers in the scope, or None on an empty site."""
    column = _day_column(scope)
    return session.scalar(select(func.max(column)))


def day_before(session: Session, day: date, scope: Scope) -> date | None:
    """The closest day before `day` that has papers in the scope."""
    column = _day_column(scope)
    return session.scalar(select(func.max(column)).where(column < day))


def day_after(session: Session, day: date, scope: Scope) -> date | None:
    """The closest day after `day` that has papers in the scope."""
    column = _day_column(scope)
    return session.scalar(select(func.min(column)).where(column > day))


def get_paper(session: Session, arxiv_id: str) -> Paper | None:
    """One paper by its id without version, or None."""
    return load_papers(session, [arxiv_id]).get(arxiv_id)


def listings_of(session: Session, paper: Paper) -> list[DailyEntry]:
    """The days `paper` was featured on a daily list, oldest first."""
    rows = session.execute(_LISTINGS_OF, {"paper": paper.arxiv_id}).mappings()
    return [_entry(row, paper) for row in rows]


def first_listings(session: Session, papers: Sequence[Paper]) -> dict[str, DailyEntry]:
    """Each paper's first daily listing, for those that were featured (one query per chunk)."""
    return first_listings_in(session, papers, date.min, date.max)


def first_listings_in(
    session: Session, papers: Sequence[Paper], first: date, last: date
) -> dict[str, DailyEntry]:
    """Each paper's first daily listing from `first` to `last` (for those listed then)."""
    by_id = {paper.arxiv_id: paper for paper in papers}
    found: dict[str, DailyEntry] = {}
    for chunk in _chunks(list(by_id)):
        query = (
            select(_entries, _papers.c.comments_local)
            .join(_papers, _papers.c.id == _entries.c.paper_id)
            .where(_entries.c.paper_id.in_(chunk), _entries.c.day.between(first, last))
            .order_by(_entries.c.day.desc())
        )
        for row in session.execute(query).mappings():  # the earliest day is written last
            found[row["paper_id"]] = _entry(row, by_id[row["paper_id"]])
    return found


def entries_by_ids(
    session: Session, entry_ids: Sequence[int], papers: PaperLoader | None = None
) -> list[DailyEntry]:
    """Daily listings by row id, in the order given (unknown ids are left out); their papers
    read by `papers` (default: load_papers)."""
    rows: dict[int, dict] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        query = (
            select(_entries, _papers.c.comments_local)
            .join(_papers, _papers.c.id == _entries.c.paper_id)
            .where(_entries.c.id.in_(list(entry_ids[start : start + _CHUNK])))
        )
        rows.update({row["id"]: row for row in session.execute(query).mappings()})
    loaded = _loader(session, papers)([row["paper_id"] for row in rows.values()])
    return [_entry(rows[i], loaded[rows[i]["paper_id"]]) for i in entry_ids if i in rows]


def load_papers(session: Session, ids: Sequence[str]) -> dict[str, Paper]:
    """The papers with these ids, authors (as each paper spells them) and organization included."""
    unique = list(dict.fromkeys(ids))
    authors = _authors_of(session, unique)
    papers: dict[str, Paper] = {}
    for chunk in _chunks(unique):
        for row in session.execute(_PAPERS_BY_ID, {"ids": chunk}).mappings():
            papers[row["id"]] = _paper(row, authors.get(row["id"], []))
    return papers


def _loader(session: Session, papers: PaperLoader | None) -> PaperLoader:
    return papers if papers is not None else (lambda ids: load_papers(session, ids))


def _papers_with_organization(*extra: ColumnElement) -> Select:
    """Papers with the organization columns `_paper` reads (and `extra`), before any filter."""
    return select(
        _papers,
        _orgs.c.name.label("org_name"),
        _orgs.c.fullname.label("org_fullname"),
        _orgs.c.avatar_url.label("org_avatar"),
        *extra,
    ).outerjoin(_orgs, _orgs.c.id == _papers.c.organization_id)


def titles_of(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """The titles of the papers with these ids (one lean query a chunk: no authors, no org)."""
    titles: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows = session.execute(_TITLES_BY_ID, {"ids": chunk})
        titles.update({paper_id: title for paper_id, title in rows})
    return titles


def papers_listed_in(
    session: Session, ids: Sequence[str], first: date, last: date
) -> tuple[dict[str, Paper], dict[str, DailyEntry]]:
    """`load_papers` and `first_listings_in` at once: the papers, and each one's first daily
    listing from `first` to `last`, in one query (and one for the authors), for a page of a
    period's papers."""
    unique = list(dict.fromkeys(ids))
    authors = _authors_of(session, unique)
    papers: dict[str, Paper] = {}
    listings: dict[str, DailyEntry] = {}
    for chunk in _chunks(unique):
        rows = session.execute(_LISTED_BY_ID, {"ids": chunk, "first": first, "last": last})
        for row in rows.mappings():  # the earliest day is written last
            paper = papers.get(row["id"])
            if paper is None:
                paper = papers[row["id"]] = _paper(row, authors.get(row["id"], []))
            if row["entry_day"] is not None:
                entry = {column.name: row[f"entry_{column.name}"] for column in _entries.c}
                entry["comments_local"] = row["comments_local"]
                listings[row["id"]] = _entry(entry, paper)
    return papers, listings


def _authors_of(session: Session, ids: list[str]) -> dict[str, list[Author]]:
    result: dict[str, list[Author]] = {}
    for chunk in _chunks(ids):
        for paper_id, name, hf_user in session.execute(_AUTHORS_BY_ID, {"ids": chunk}):
            author = Author.model_construct(_AUTHOR_FIELDS, name=name, hf_user=hf_user)
            result.setdefault(paper_id, []).append(author)
    return result


def _order_by(order: Order) -> list:
    newest = [_papers.c.published_at.desc().nulls_last(), _papers.c.id.desc()]
    if order == "newest":
        return newest
    return [(_papers.c.upvotes_base + _papers.c.upvotes_local).desc(), *newest]


def _day_column(scope: Scope):
    return _entries.c.day if scope == "featured" else _papers.c.announced_on


def _paper(row, authors: list[Author]) -> Paper:
    """A stored paper as the domain model, built without validation: every stored row was
    validated when it was written, and checking it again on each read cost most of a page."""
    organization = None
    if row["org_name"] is not None:
        organization = Organization.model_construct(
            name=row["org_name"], fullname=row["org_fullname"], avatar_url=row["org_avatar"]
        )
    return Paper.model_construct(
        arxiv_id=row["id"],
        version=row["version"],
        title=row["title"],
        abstract=row["abstract"] or "",
        authors=authors,
        categories=(row["categories"] or "").split(),
        published_at=row["published_at"],
        announced_on=row["announced_on"],
        updated_at=row["updated_at"],
        comments=row["comments"],
        journal_ref=row["journal_ref"],
        doi=row["doi"],
        license=row["license"],
        organization=organization,
        upvotes=(row["upvotes_base"] or 0) + (row["upvotes_local"] or 0),  # imported + local
        github_repo=row["github_repo"],
        github_stars=row["github_stars"],
        project_page=row["project_page"],
        ai_summary=row["ai_summary"],
        ai_keywords=row["ai_keywords"],
        discussion_id=row["discussion_id"],
        source=row["metadata_source"],
        listed_on=row["listed_on"],
    )


def _entry(row, paper: Paper) -> DailyEntry:
    submitter = None
    if row["submitted_by"] is not None:
        submitter = Submitter.model_construct(
            username=row["submitted_by"],
            fullname=row["submitted_by_fullname"],
            avatar_url=row["submitted_by_avatar"],
        )
    return DailyEntry.model_construct(
        day=row["day"],
        paper=paper,
        submitted_by=submitter,
        submitted_at=row["submitted_at"],
        num_comments=(row["num_comments"] or 0) + (row.get("comments_local") or 0),
        thumbnail=row["thumbnail"],
        is_author_participating=bool(row["is_author_participating"]),
    )


# The statements of the reads every search and page makes, built once: SQLAlchemy walks a
# statement to find its compiled form in its cache, and for a statement built per call (an
# IN list of new ids each time) that walk cost a third of reading 20 papers.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_PAPERS_BY_ID = _papers_with_organization().where(_papers.c.id.in_(_IDS))
_TITLES_BY_ID = select(_papers.c.id, _papers.c.title).where(_papers.c.id.in_(_IDS))
_LISTED_BY_ID = (
    _papers_with_organization(*[column.label(f"entry_{column.name}") for column in _entries.c])
    .outerjoin(
        _entries,
        (_entries.c.paper_id == _papers.c.id)
        & _entries.c.day.between(bindparam("first"), bindparam("last")),
    )
    .where(_papers.c.id.in_(_IDS))
    .order_by(_entries.c.day.desc())
)
_LISTINGS_OF = (
    select(_entries, _papers.c.comments_local)
    .join(_papers, _papers.c.id == _entries.c.paper_id)
    .where(_entries.c.paper_id == bindparam("paper"))
    .order_by(_entries.c.day)
)
_AUTHORS_BY_ID = (
    select(_paper_authors.c.paper_id, _paper_authors.c.name, _paper_authors.c.hf_user)
    .where(_paper_authors.c.paper_id.in_(_IDS))  # the table's columns: no ORM processing
    .order_by(_paper_authors.c.paper_id, _paper_authors.c.position)
)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --- organizations and authors: their papers and counts ---


@dataclass(frozen=True)
class OrganizationCounts:
    """An organization with how many stored papers it has and their upvotes in all."""

    organization: Organization
    papers: int
    upvotes: int


@dataclass(frozen=True)
class AuthorCounts:
    """An author (one normalized name) with a display spelling and their stored papers' counts."""

    author_id: int
    name: str
    name_key: str
    papers: int
    upvotes: int


def organizations(
    session: Session, *, offset: int = 0, limit: int = 50
) -> Slice[OrganizationCounts]:
    """Organizations with papers, those with the most papers first, one page of them."""
    total = session.scalar(
        select(func.count(func.distinct(_papers.c.organization_id))).where(
            _papers.c.organization_id.is_not(None)
        )
    )
    query = (
        _organization_counts()
        .order_by(
            func.count(_papers.c.id).desc(),
            func.sum(_upvotes()).desc(),
            OrganizationRow.name,
        )
        .offset(offset)
        .limit(limit)
    )
    return Slice([_organization_counts_of(row) for row in session.execute(query)], total or 0)


def organization(session: Session, name: str) -> OrganizationCounts | None:
    """The organization with this name (exactly as stored) and its counts, or None."""
    row = session.execute(_organization_counts().where(OrganizationRow.name == name)).first()
    return _organization_counts_of(row) if row else None


def organization_papers(
    session: Session, name: str, *, order: Order = "upvotes", offset: int = 0, limit: int = 50
) -> Slice[Paper]:
    """One page of the papers attributed to the organization named `name`, with the total."""
    org_id = select(OrganizationRow.id).where(OrganizationRow.name == name).scalar_subquery()
    return _paper_slice(session, _papers.c.organization_id == org_id, order, offset, limit)


def author(session: Session, name_key: str) -> AuthorCounts | None:
    """The author whose normalized name is `name_key`, spelled as most of their papers do."""
    row = session.execute(
        select(AuthorRow.id, AuthorRow.name).where(AuthorRow.name_key == name_key)
    ).first()
    if row is None:
        return None
    author_id, first_spelling = row
    counts = session.execute(
        select(func.count(_papers.c.id), func.coalesce(func.sum(_upvotes()), 0))
        .join(PaperAuthorRow, PaperAuthorRow.paper_id == _papers.c.id)
        .where(PaperAuthorRow.author_id == author_id)
    ).one()
    uses = func.count().label("uses")
    spelling = session.scalar(
        select(PaperAuthorRow.name)
        .where(PaperAuthorRow.author_id == author_id)
        .group_by(PaperAuthorRow.name)
        .order_by(uses.desc(), PaperAuthorRow.name)
        .limit(1)
    )
    return AuthorCounts(
        author_id=author_id,
        name=" ".join((spelling or first_spelling).split()),
        name_key=name_key,
        papers=counts[0],
        upvotes=counts[1],
    )


def author_papers(
    session: Session, author_id: int, *, order: Order = "upvotes", offset: int = 0, limit: int = 50
) -> Slice[Paper]:
    """One page of the papers listing the author `author_id`, with the total."""
    wrote = (
        select(PaperAuthorRow.paper_id).where(PaperAuthorRow.author_id == author_id).distinct()
    )
    return _paper_slice(session, _papers.c.id.in_(wrote), order, offset, limit)


def _upvotes():
    """A paper's upvotes: the imported count plus local votes."""
    return _papers.c.upvotes_base + _papers.c.upvotes_local


def _organization_counts():
    return (
        select(
            OrganizationRow.name,
            OrganizationRow.fullname,
            OrganizationRow.avatar_url,
            func.count(_papers.c.id).label("papers"),
            func.coalesce(func.sum(_upvotes()), 0).label("upvotes"),
        )
        .join(_papers, _papers.c.organization_id == OrganizationRow.id)
        .group_by(
            OrganizationRow.id,
            OrganizationRow.name,
            OrganizationRow.fullname,
            OrganizationRow.avatar_url,
        )
    )


def _organization_counts_of(row) -> OrganizationCounts:
    name, fullname, avatar_url, papers, upvotes = row
    return OrganizationCounts(
        Organization(name=name, fullname=fullname, avatar_url=avatar_url), papers, upvotes
    )


def _paper_slice(session: Session, where, order: Order, offset: int, limit: int) -> Slice[Paper]:
    total = session.scalar(select(func.count()).select_from(_papers).where(where)) or 0
    query = select(_papers.c.id).where(where).order_by(*_order_by(order))
    ids = list(session.scalars(query.offset(offset).limit(limit)))
    papers = load_papers(session, ids)
    return Slice([papers[i] for i in ids], total)
