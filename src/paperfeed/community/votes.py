"""Upvotes: one per user per paper, added to the imported count in the vote's own transaction.

The (user, paper) primary key makes a second vote impossible; the papers.upvotes_local counter
changes only when a vote row was really inserted or deleted, in the same transaction, with an
UPDATE ... SET upvotes_local = upvotes_local + 1 that the database applies atomically. So
concurrent clicks, on SQLite or PostgreSQL, count exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.domain import PaperNotFound
from paperfeed.store.dialect import insert
from paperfeed.store.models import PaperRow, UpvoteRow, UserRow


@dataclass(frozen=True)
class VoteState:
    """After a vote change: whether the user's vote stands and the paper's total upvotes."""

    paper_id: str
    upvoted: bool
    upvotes: int


def upvote(session: Session, user: UserRow, paper_id: str) -> VoteState:
    """Add the user's upvote (a second call changes nothing). The caller commits."""
    _require_paper(session, paper_id)
    statement = insert(session, UpvoteRow.__table__)
    # RETURNING says whether a row went in (psycopg reports no rowcount for this statement).
    inserted = session.execute(
        statement.values(user_id=user.id, paper_id=paper_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id", "paper_id"])
        .returning(UpvoteRow.user_id)
    ).first()
    if inserted is not None:
        _add(session, paper_id, 1)
    return VoteState(paper_id, True, total_upvotes(session, paper_id))


def remove_upvote(session: Session, user: UserRow, paper_id: str) -> VoteState:
    """Take the user's upvote back (a second call changes nothing). The caller commits."""
    _require_paper(session, paper_id)
    deleted = session.execute(
        delete(UpvoteRow)
        .where(UpvoteRow.user_id == user.id, UpvoteRow.paper_id == paper_id)
        .returning(UpvoteRow.user_id)
    ).first()
    if deleted is not None:
        _add(session, paper_id, -1)
    return VoteState(paper_id, False, total_upvotes(session, paper_id))


def toggle_upvote(session: Session, user: UserRow, paper_id: str) -> VoteState:
    """Upvote if the user has not, else take the upvote back. The caller commits."""
    if has_upvoted(session, user, paper_id):
        return remove_upvote(session, user, paper_id)
    return upvote(session, user, paper_id)


def has_upvoted(session: Session, user: UserRow, paper_id: str) -> bool:
    """Whether the user's upvote of this paper stands."""
    return (
        session.scalar(
            select(UpvoteRow.paper_id).where(
                UpvoteRow.user_id == user.id, UpvoteRow.paper_id == paper_id
            )
        )
        is not None
    )


def upvoted_ids(session: Session, user: UserRow) -> set[str]:
    """Every paper the user has upvoted."""
    return set(session.scalars(select(UpvoteRow.paper_id).where(UpvoteRow.user_id == user.id)))


def total_upvotes(session: Session, paper_id: str) -> int:
    """Imported upvotes plus local ones."""
    row = session.execute(
        select(PaperRow.upvotes_base, PaperRow.upvotes_local).where(PaperRow.id == paper_id)
    ).one()
    return (row.upvotes_base or 0) + (row.upvotes_local or 0)


def _add(session: Session, paper_id: str, amount: int) -> None:
    session.execute(
        update(PaperRow)
        .where(PaperRow.id == paper_id)
        .values(upvotes_local=PaperRow.upvotes_local + amount)
    )


def _require_paper(session: Session, paper_id: str) -> None:
    if session.scalar(select(PaperRow.id).where(PaperRow.id == paper_id)) is None:
        raise PaperNotFound(paper_id)

