"""What the recommender keeps about a reader beside their signals: since when it listens, and the
private feed token. Clearing the history forgets everything the recommender learned.

Clearing deletes the reader's follows and "not interested" marks and sets `cleared_at`: upvotes
and saved papers stay (they are the community's counts and the reader's collections) but the
recommender ignores those made before it. The private feed's token is 256 bits of randomness,
stored as its SHA-256 like an API token; a new token replaces the old one, revoking deletes it.
The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.rank import dismissals, follows
from paperfeed.store.dialect import insert
from paperfeed.store.models import ReaderStateRow, UserRow

FEED_TOKEN_PREFIX = "pff_"


@dataclass(frozen=True)
class FeedToken:
    """A reader's private feed token: the secret is known only when it was just made."""

    prefix: str
    created_at: datetime
    secret: str | None = None


def cleared_at(session: Session, user_id: int) -> datetime | None:
    """When the reader last cleared their history (None: never)."""
    return session.scalar(
        select(ReaderStateRow.cleared_at).where(ReaderStateRow.user_id == user_id)
    )


def cleared_at_many(session: Session, user_ids: list[int]) -> dict[int, datetime]:
    """cleared_at for many readers at once (those who ever cleared)."""
    found: dict[int, datetime] = {}
    for start in range(0, len(user_ids), 500):
        query = select(ReaderStateRow.user_id, ReaderStateRow.cleared_at).where(
            ReaderStateRow.user_id.in_(user_ids[start : start + 500]),
            ReaderStateRow.cleared_at.is_not(None),
        )
        found.update({user_id: at for user_id, at in session.execute(query)})
    return found


def clear_history(session: Session, user: UserRow) -> None:
    """Forget what the recommender knows: follows, dismissals, and upvotes and saves until now."""
    follows.clear(session, user)
    dismissals.clear(session, user)
    _upsert(session, user.id, cleared_at=utcnow())


def new_feed_token(session: Session, user: UserRow) -> FeedToken:
    """A new private feed token for the reader; the old one (if any) stops working."""
    secret = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    prefix = secret[: len(FEED_TOKEN_PREFIX) + 6]
    _upsert(
        session, user.id,
        feed_token_hash=_hash(secret), feed_token_prefix=prefix, feed_token_created_at=now,
    )  # fmt: skip
    return FeedToken(prefix, now, secret)


def revoke_feed_token(session: Session, user: UserRow) -> None:
    """The private feed stops answering (404) until a new token is made."""
    session.execute(
        update(ReaderStateRow)
        .where(ReaderStateRow.user_id == user.id)
        .values(feed_token_hash=None, feed_token_prefix=None, feed_token_created_at=None)
    )


def feed_token_of(session: Session, user_id: int) -> FeedToken | None:
    """The reader's current feed token (without its secret), if any."""
    row = session.get(ReaderStateRow, user_id)
    if row is None or row.feed_token_prefix is None or row.feed_token_created_at is None:
        return None
    return FeedToken(row.feed_token_prefix, row.feed_token_created_at)


def user_for_feed_token(session: Session, secret: str) -> UserRow | None:
    """Whose private feed this token opens, or None (unknown or revoked)."""
    if not secret.startswith(FEED_TOKEN_PREFIX) or len(secret) > 200:
        return None
    user_id = session.scalar(
        select(ReaderStateRow.user_id).where(ReaderStateRow.feed_token_hash == _hash(secret))
    )
    return session.get(UserRow, user_id) if user_id is not None else None


def _upsert(session: Session, user_id: int, **values: object) -> None:
    statement = insert(session, ReaderStateRow.__table__).values(user_id=user_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
