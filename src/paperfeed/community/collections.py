"""Collections: users' named lists of saved papers, who may read and change them, and exports.

A private collection is visible to its owner only: to anyone else it does not exist
(CollectionNotFound, shown as 404), so ids cannot be probed. A public one can be read by anyone
and changed by its owner only (CollectionForbidden for others). Functions that change something
leave the commit to the caller, like the rest of paperfeed.community.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.core.errors import Forbidden, Invalid, NotFound
from paperfeed.core.paging import page_count, page_offset
from paperfeed.domain import Paper, PaperNotFound, parse_arxiv_id
from paperfeed.feed.bibtex import bibtex
from paperfeed.feed.items import Card
from paperfeed.store import reader
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import (
    COLLECTION_NAME_MAX,
    CollectionPaperRow,
    CollectionRow,
    PaperRow,
    UserRow,
)

# Bounds that keep one account from filling the database.
MAX_COLLECTIONS_PER_USER = 500
MAX_PAPERS_PER_COLLECTION = 5000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_links = CollectionPaperRow.__table__


class CollectionNotFound(NotFound):
    """No collection with this id that the viewer may see (missing, or someone's private one)."""

    def __init__(self, collection_id: int) -> None:
        super().__init__(f"collection {collection_id} not found")
        self.collection_id = collection_id


class CollectionForbidden(Forbidden):
    """The viewer may read this (public) collection but only its owner may change it."""

    def __init__(self) -> None:
        super().__init__("Only the owner of this collection can change it.")


class InvalidCollection(Invalid):
    """A change refused for a reason the user can fix: a bad or taken name, a limit reached."""


@dataclass(frozen=True)
class Collection:
    """A collection's own fields, its owner's name and how many papers it holds."""

    id: int
    name: str
    is_public: bool
    owner_id: int
    owner: str
    created_at: datetime
    updated_at: datetime
    size: int

    def owned_by(self, user: UserRow | None) -> bool:
        return user is not None and user.id == self.owner_id


@dataclass(frozen=True)
class SavedPaper:
    """A paper in a collection and when it was saved there."""

    paper: Paper
    added_at: datetime

    @property
    def card(self) -> Card:
        """The paper's card on the collection's page."""
        return Card.of(self.paper)


@dataclass(frozen=True)
class CollectionPage:
    """A collection and one page of its papers, most recently saved first."""

    collection: Collection
    items: list[SavedPaper]
    page: int  # from 1
    page_size: int

    @property
    def total(self) -> int:
        return self.collection.size

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)


def clean_name(name: str) -> str:
    """The name as it is stored: whitespace squashed; refused if empty, too long or odd."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise InvalidCollection("Give the collection a name.")
    if len(cleaned) > COLLECTION_NAME_MAX:
        raise InvalidCollection(f"A collection name has at most {COLLECTION_NAME_MAX} characters.")
    if _CONTROL.search(cleaned):
        raise InvalidCollection("A collection name cannot contain control characters.")
    return cleaned


def create(session: Session, owner: UserRow, name: str, *, public: bool = False) -> Collection:
    """A new, empty collection of `owner`'s. The caller commits."""
    name = clean_name(name)
    count = session.scalar(
        select(func.count()).select_from(CollectionRow).where(CollectionRow.user_id == owner.id)
    )
    if (count or 0) >= MAX_COLLECTIONS_PER_USER:
        raise InvalidCollection(
            f"You have {MAX_COLLECTIONS_PER_USER} collections, the most one can."
        )
    now = utcnow()
    row = CollectionRow(user_id=owner.id, is_public=public, created_at=now, updated_at=now)
    _save_name(session, owner, row, name)
    return _collection(session, row)


def rename(session: Session, user: UserRow, collection_id: int, name: str) -> Collection:
    """Give the collection a new name. The caller commits."""
    row = _writable(session, user, collection_id)
    _save_name(session, user, row, clean_name(name))
    return _collection(session, row)


def set_public(session: Session, user: UserRow, collection_id: int, public: bool) -> Collection:
    """Make the collection public (anyone may read it) or private. The caller commits."""
    row = _writable(session, user, collection_id)
    row.is_public = public
    row.updated_at = utcnow()
    session.flush()
    return _collection(session, row)


def delete_collection(session: Session, user: UserRow, collection_id: int) -> None:
    """Delete the collection and its list of papers (never the papers). The caller commits."""
    row = _writable(session, user, collection_id)
    session.execute(delete(CollectionPaperRow).where(CollectionPaperRow.collection_id == row.id))
    session.delete(row)
    session.flush()


def add_paper(session: Session, user: UserRow, collection_id: int, paper_id: str) -> bool:
    """Save a paper in the collection; False if it was there already. The caller commits."""
    row = _writable(session, user, collection_id)
    arxiv_id = _existing_paper(session, paper_id)
    if _size(session, row.id) >= MAX_PAPERS_PER_COLLECTION:
        raise InvalidCollection(
            f"A collection holds at most {MAX_PAPERS_PER_COLLECTION} papers; start another one."
        )
    # RETURNING says whether a row went in, the same way on both databases.
    added = session.scalar(
        insert(session, _links)
        .values(collection_id=row.id, paper_id=arxiv_id, added_at=utcnow())
        .on_conflict_do_nothing(index_elements=["collection_id", "paper_id"])
        .returning(_links.c.paper_id)
    )
    if added is not None:
        _touch(session, row.id)
    return added is not None


def remove_paper(session: Session, user: UserRow, collection_id: int, paper_id: str) -> bool:
    """Take a paper out of the collection; False if it was not there. The caller commits."""
    row = _writable(session, user, collection_id)
    arxiv_id, _version = parse_arxiv_id(paper_id)
    removed = rowcount(session.execute(
        delete(CollectionPaperRow).where(
            CollectionPaperRow.collection_id == row.id, CollectionPaperRow.paper_id == arxiv_id
        )
    ))
    if removed:
        _touch(session, row.id)
    return removed == 1


def get(session: Session, viewer: UserRow | None, collection_id: int) -> Collection:
    """The collection if `viewer` may read it, else CollectionNotFound."""
    return _collection(session, _readable(session, viewer, collection_id))


def page(
    session: Session,
    viewer: UserRow | None,
    collection_id: int,
    *,
    page: int = 1,
    page_size: int = 50,
) -> CollectionPage:
    """The collection and one page of its papers, most recently saved first."""
    collection = get(session, viewer, collection_id)
    items = _saved(session, collection.id, offset=page_offset(page, page_size), limit=page_size)
    return CollectionPage(collection, items, page, page_size)


def papers(session: Session, viewer: UserRow | None, collection_id: int) -> list[SavedPaper]:
    """Every paper in the collection (for exports), most recently saved first."""
    collection = get(session, viewer, collection_id)
    return _saved(session, collection.id, offset=0, limit=MAX_PAPERS_PER_COLLECTION)


def bibtex_of(session: Session, viewer: UserRow | None, collection_id: int) -> str:
    """The collection as a BibTeX file: one @misc entry per paper, as on the paper pages."""
    saved = papers(session, viewer, collection_id)
    return "".join(f"{bibtex(item.paper)}\n\n" for item in saved)


def collections_of(session: Session, owner: UserRow, viewer: UserRow | None) -> list[Collection]:
    """`owner`'s collections that `viewer` may see (all for the owner), most recently changed."""
    query = select(CollectionRow).where(CollectionRow.user_id == owner.id)
    if viewer is None or viewer.id != owner.id:
        query = query.where(CollectionRow.is_public.is_(True))
    rows = list(session.scalars(query.order_by(CollectionRow.updated_at.desc(), CollectionRow.id)))
    sizes = _sizes(session, [row.id for row in rows])
    return [_collection(session, row, owner.username, sizes.get(row.id, 0)) for row in rows]


def saved_in(session: Session, user: UserRow, paper_ids: Iterable[str]) -> dict[str, set[int]]:
    """For each of these papers, the ids of `user`'s collections that hold it."""
    ids = list(dict.fromkeys(paper_ids))
    found: dict[str, set[int]] = {paper_id: set() for paper_id in ids}
    if not ids:
        return found
    query = (
        select(CollectionPaperRow.paper_id, CollectionPaperRow.collection_id)
        .join(CollectionRow, CollectionRow.id == CollectionPaperRow.collection_id)
        .where(CollectionRow.user_id == user.id, CollectionPaperRow.paper_id.in_(ids))
    )
    for paper_id, collection_id in session.execute(query):
        found[paper_id].add(collection_id)
    return found


def all_saved(session: Session, user: UserRow) -> dict[str, set[int]]:
    """Every paper `user` saved, with the ids of the collections holding it."""
    query = (
        select(CollectionPaperRow.paper_id, CollectionPaperRow.collection_id)
        .join(CollectionRow, CollectionRow.id == CollectionPaperRow.collection_id)
        .where(CollectionRow.user_id == user.id)
    )
    found: dict[str, set[int]] = {}
    for paper_id, collection_id in session.execute(query):
        found.setdefault(paper_id, set()).add(collection_id)
    return found


def _readable(session: Session, viewer: UserRow | None, collection_id: int) -> CollectionRow:
    row = session.get(CollectionRow, collection_id)
    if row is None or not (row.is_public or (viewer is not None and viewer.id == row.user_id)):
        raise CollectionNotFound(collection_id)
    return row


def _writable(session: Session, user: UserRow, collection_id: int) -> CollectionRow:
    row = _readable(session, user, collection_id)
    if row.user_id != user.id:
        raise CollectionForbidden()
    return row


def _save_name(session: Session, owner: UserRow, row: CollectionRow, name: str) -> None:
    """Give the row `name` and flush it; a name the owner already uses is refused, row unchanged."""
    same_name = [CollectionRow.user_id == owner.id, CollectionRow.name == name]
    if row.id is not None:
        same_name.append(CollectionRow.id != row.id)
    message = f"You already have a collection named {name!r}."
    if session.scalar(select(CollectionRow.id).where(*same_name)) is not None:
        raise InvalidCollection(message)
    try:
        with session.begin_nested():  # a concurrent request may have taken the name meanwhile
            row.name = name
            row.updated_at = utcnow()
            session.add(row)
    except IntegrityError as error:
        raise InvalidCollection(message) from error


def _existing_paper(session: Session, paper_id: str) -> str:
    arxiv_id, _version = parse_arxiv_id(paper_id)
    if session.scalar(select(PaperRow.id).where(PaperRow.id == arxiv_id)) is None:
        raise PaperNotFound(arxiv_id)
    return arxiv_id


def _touch(session: Session, collection_id: int) -> None:
    session.execute(
        update(CollectionRow).where(CollectionRow.id == collection_id).values(updated_at=utcnow())
    )


def _size(session: Session, collection_id: int) -> int:
    return _sizes(session, [collection_id]).get(collection_id, 0)


def _sizes(session: Session, collection_ids: list[int]) -> dict[int, int]:
    if not collection_ids:
        return {}
    query = (
        select(_links.c.collection_id, func.count())
        .where(_links.c.collection_id.in_(collection_ids))
        .group_by(_links.c.collection_id)
    )
    return {collection_id: count for collection_id, count in session.execute(query)}


def _saved(session: Session, collection_id: int, *, offset: int, limit: int) -> list[SavedPaper]:
    query = (
        select(_links.c.paper_id, _links.c.added_at)
        .where(_links.c.collection_id == collection_id)
        .order_by(_links.c.added_at.desc(), _links.c.paper_id)
        .offset(offset)
        .limit(limit)
    )
    rows = session.execute(query).all()
    loaded = reader.load_papers(session, [paper_id for paper_id, _added in rows])
    return [SavedPaper(loaded[paper_id], added) for paper_id, added in rows if paper_id in loaded]


def _collection(
    session: Session, row: CollectionRow, owner: str | None = None, size: int | None = None
) -> Collection:
    if owner is None:
        owner = session.scalar(select(UserRow.username).where(UserRow.id == row.user_id)) or ""
    return Collection(
        id=row.id,
        name=row.name,
        is_public=row.is_public,
        owner_id=row.user_id,
        owner=owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
        size=_size(session, row.id) if size is None else size,
    )
