""""Not interested": a reader's dismissed papers, undoable, one row per reader and paper.

A dismissed paper leaves that reader's recommendations and lowers the papers most like it
(paperfeed.rank.recommend); the community feeds are unchanged. The caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.domain import PaperNotFound
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import DismissalRow, PaperRow, UserRow


def dismiss(session: Session, user: UserRow, paper_id: str) -> bool:
    """Mark the paper "not interested" (a second call changes nothing); whether it was new."""
    _require_paper(session, paper_id)
    statement = insert(session, DismissalRow.__table__)
    inserted = session.execute(
        statement.values(user_id=user.id, paper_id=paper_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["user_id", "paper_id"])
        .returning(DismissalRow.user_id)
    ).first()
    return inserted is not None


def undo(session: Session, user: UserRow, paper_id: str) -> bool:
    """Take "not interested" back; whether there was one."""
    _require_paper(session, paper_id)
    result = session.execute(
        delete(DismissalRow).where(
            DismissalRow.user_id == user.id, DismissalRow.paper_id == paper_id
        )
    )
    return rowcount(result) > 0


def toggle(session: Session, user: UserRow, paper_id: str) -> bool:
    """Dismiss the paper, or undo an earlier dismissal; whether it is dismissed now."""
    if paper_id in dismissed_ids(session, user.id):
        undo(session, user, paper_id)
        return False
    dismiss(session, user, paper_id)
    return True


def dismissed_ids(session: Session, user_id: int) -> set[str]:
    """Every paper the user marked not interested."""
    query = select(DismissalRow.paper_id).where(DismissalRow.user_id == user_id)
    return set(session.scalars(query))


def dismissals_of(session: Session, user_id: int) -> list[tuple[str, datetime]]:
    """(paper id, when) of the user's dismissals, latest first."""
    query = (
        select(DismissalRow.paper_id, DismissalRow.created_at)
        .where(DismissalRow.user_id == user_id)
        .order_by(DismissalRow.created_at.desc(), DismissalRow.paper_id)
    )
    return [(paper_id, at) for paper_id, at in session.execute(query)]


def clear(session: Session, user: UserRow) -> int:
    """Undo every dismissal; how many there were."""
    return rowcount(session.execute(delete(DismissalRow).where(DismissalRow.user_id == user.id)))


def _require_paper(session: Session, paper_id: str) -> None:
    if session.scalar(select(PaperRow.id).where(PaperRow.id == paper_id)) is None:
        raise PaperNotFound(paper_id)
