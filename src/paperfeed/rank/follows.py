"""Follows: authors, organizations, arXiv categories and saved keyword searches, per account.

The recommender (paperfeed.rank.recommend) lifts what a reader follows and says so on the card.
A follow is stored under a key two spellings share (an author's name key, a category or search in
lower case), so following "Yann LeCun" and "yann  lecun" is one follow. Someone else's follow
answers FollowNotFound (404) exactly like one that does not exist. The caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.core.errors import Invalid, NotFound
from paperfeed.domain import normalize_name
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import FOLLOW_KEY_MAX, FOLLOW_KINDS, FollowRow, UserRow

MAX_FOLLOWS_PER_USER = 500
SEARCH_MAX = 200  # characters of a saved search
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[a-z][a-z\-]*)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
KIND_NAMES = {
    "author": "author",
    "organization": "organization",
    "category": "arXiv category",
    "search": "saved search",
}


class InvalidFollow(Invalid):
    """A follow refused for a reason the user can fix: an empty name, a bad category, a limit."""


class FollowNotFound(NotFound):
    """No follow with this id that belongs to the one asking."""

    def __init__(self, follow_id: int) -> None:
        super().__init__(f"follow {follow_id} not found")


@dataclass(frozen=True)
class Follow:
    """One thing a reader follows."""

    id: int
    kind: str  # author | organization | category | search
    key: str
    label: str
    created_at: datetime


def follow_key(kind: str, label: str) -> tuple[str, str]:
    """(key, cleaned label) of a follow; raises InvalidFollow for what cannot be followed."""
    if kind not in FOLLOW_KINDS:
        raise InvalidFollow(f"{kind[:20]!r} cannot be followed; follow one of {FOLLOW_KINDS}")
    cleaned = " ".join((label or "").split())
    if not cleaned:
        raise InvalidFollow(f"Name the {KIND_NAMES[kind]} to follow.")
    if _CONTROL.search(cleaned):
        raise InvalidFollow("A follow cannot contain control characters.")
    if kind == "search" and len(cleaned) > SEARCH_MAX:
        raise InvalidFollow(f"A saved search has at most {SEARCH_MAX} characters.")
    if len(cleaned) > FOLLOW_KEY_MAX:
        raise InvalidFollow(f"A name to follow has at most {FOLLOW_KEY_MAX} characters.")
    if kind == "category" and not _CATEGORY.match(cleaned):
        raise InvalidFollow(f"{cleaned[:40]!r} is not an arXiv category (e.g. cs.CL, cs, stat.ML).")
    if kind == "author":
        return normalize_name(cleaned), cleaned
    return cleaned.casefold(), cleaned


def follow(session: Session, user: UserRow, kind: str, label: str) -> Follow:
    """Follow something (a second call changes nothing and returns the same follow)."""
    key, cleaned = follow_key(kind, label)
    existing = _find(session, user, kind, key)
    if existing is not None:
        return existing
    count = session.scalar(
        select(func.count()).select_from(FollowRow).where(FollowRow.user_id == user.id)
    )
    if (count or 0) >= MAX_FOLLOWS_PER_USER:
        raise InvalidFollow(f"You follow {MAX_FOLLOWS_PER_USER} things already; unfollow some.")
    statement = insert(session, FollowRow.__table__).values(
        user_id=user.id, kind=kind, key=key, label=cleaned, created_at=utcnow()
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["user_id", "kind", "key"]))
    found = _find(session, user, kind, key)
    assert found is not None  # inserted now, or by a request beside this one
    return found


def unfollow(session: Session, user: UserRow, follow_id: int) -> Follow:
    """Stop following (by the follow's id); someone else's follow is FollowNotFound."""
    row = session.scalar(
        select(FollowRow).where(FollowRow.id == follow_id, FollowRow.user_id == user.id)
    )
    if row is None:
        raise FollowNotFound(follow_id)
    gone = _follow(row)
    session.execute(delete(FollowRow).where(FollowRow.id == follow_id))
    return gone


def unfollow_key(session: Session, user: UserRow, kind: str, label: str) -> bool:
    """Stop following this author, category... by name; whether a follow was there."""
    key, _cleaned = follow_key(kind, label)
    result = session.execute(
        delete(FollowRow).where(
            FollowRow.user_id == user.id, FollowRow.kind == kind, FollowRow.key == key
        )
    )
    return rowcount(result) > 0


def follows_of(session: Session, user_id: int) -> list[Follow]:
    """What the user follows, by kind, then as they wrote it."""
    rows = session.scalars(select(FollowRow).where(FollowRow.user_id == user_id))
    return sorted(
        (_follow(row) for row in rows), key=lambda f: (FOLLOW_KINDS.index(f.kind), f.key)
    )


def follows_of_many(session: Session, user_ids: list[int]) -> dict[int, list[Follow]]:
    """follows_of for many users at once (one query per 500)."""
    found: dict[int, list[Follow]] = {}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        query = select(
            FollowRow.user_id, FollowRow.id, FollowRow.kind, FollowRow.key, FollowRow.label,
            FollowRow.created_at,
        ).where(FollowRow.user_id.in_(chunk))  # fmt: skip (columns, not objects: it is quicker)
        for user_id, *columns in session.execute(query):
            found.setdefault(user_id, []).append(Follow(*columns))
    return found


def is_following(session: Session, user: UserRow, kind: str, label: str) -> Follow | None:
    """The user's follow of this author, category... if any."""
    try:
        key, _cleaned = follow_key(kind, label)
    except InvalidFollow:
        return None
    return _find(session, user, kind, key)


def clear(session: Session, user: UserRow) -> int:
    """Unfollow everything; how many follows there were."""
    return rowcount(session.execute(delete(FollowRow).where(FollowRow.user_id == user.id)))


def _find(session: Session, user: UserRow, kind: str, key: str) -> Follow | None:
    row = session.scalar(
        select(FollowRow).where(
            FollowRow.user_id == user.id, FollowRow.kind == kind, FollowRow.key == key
        )
    )
    return _follow(row) if row is not None else None


def _follow(row: FollowRow) -> Follow:
    return Follow(row.id, row.kind, row.key, row.label, row.created_at)
