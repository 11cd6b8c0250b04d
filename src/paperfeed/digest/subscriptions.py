"""Subscriptions: who asked for digests, with what interests, and their opt-in state."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.domain import normalize_email
from paperfeed.store.models import SubscriptionRow

Frequency = Literal["daily", "weekly"]

_CATEGORY = re.compile(r"^[a-z][a-z-]{0,15}(\.[A-Za-z][A-Za-z-]{0,15})?$")
_SPLIT = re.compile(r"[,;\n]+")
MAX_INTERESTS = 20
# A new confirmation mail for one address at most this often: the form cannot be used to flood.
CONFIRM_INTERVAL = timedelta(minutes=5)


def is_category(text: str) -> bool:
    """Whether `text` is written like an arXiv category (cs.CL) or archive (cs)."""
    return bool(_CATEGORY.match(text))


def split_list(text: str | list[str] | None) -> list[str]:
    """Items of a comma, semicolon or line separated field, trimmed, first spelling kept."""
    parts = text if isinstance(text, list) else _SPLIT.split(text or "")
    seen: dict[str, str] = {}
    for part in parts:
        item = " ".join(part.split())
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return list(seen.values())


class Interests(BaseModel):
    """What a subscriber wants beyond the top papers: arXiv categories, keywords, organizations."""

    categories: list[str] = Field(default_factory=list, max_length=MAX_INTERESTS)
    keywords: list[str] = Field(default_factory=list, max_length=MAX_INTERESTS)
    organizations: list[str] = Field(default_factory=list, max_length=MAX_INTERESTS)

    @field_validator("categories", "keywords", "organizations", mode="before")
    @classmethod
    def _split(cls, value: str | list[str] | None) -> list[str]:
        return split_list(value)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        for category in value:
            if not is_category(category):
                raise ValueError(f"{category[:40]!r} is not an arXiv category such as cs.CL or cs")
        return value

    @field_validator("keywords", "organizations")
    @classmethod
    def _length(cls, value: list[str]) -> list[str]:
        for item in value:
            if len(item) > 100:
                raise ValueError(f"{item[:40]!r}... is longer than 100 characters")
        return value


def get(session: Session, subscription_id: int) -> SubscriptionRow | None:
    return session.get(SubscriptionRow, subscription_id)


def by_email(session: Session, email: str) -> SubscriptionRow | None:
    return session.scalar(select(SubscriptionRow).where(SubscriptionRow.email == email))


def by_user(session: Session, user_id: int) -> SubscriptionRow | None:
    query = select(SubscriptionRow).where(SubscriptionRow.user_id == user_id)
    return session.scalar(query.order_by(SubscriptionRow.id))


def request(
    session: Session,
    email: str,
    frequency: Frequency,
    interests: Interests,
    *,
    user_id: int | None = None,
    now: datetime | None = None,
) -> SubscriptionRow:
    """Record a request to subscribe; the row stays pending until the address confirms.

    An address that is already active keeps its preferences and its account link (an anonymous
    form must not change someone else's); the caller mails it a link to its preferences instead.
    """
    now = now or utcnow()
    email = normalize_email(email)
    row = by_email(session, email)
    if row is None:
        row = SubscriptionRow(email=email, status="pending", created_at=now, confirmations_sent=0)
        session.add(row)
    if row.status != "active":
        row.status = "pending"
        row.frequency = frequency
        row.categories = interests.categories
        row.keywords = interests.keywords
        row.organizations = interests.organizations
        row.left_at = None
        row.bounce_reason = None
        # Account addresses are not verified: only a request the address still has to confirm
        # may link the row to an account, and the latest request decides (never an active row).
        row.user_id = user_id
    session.flush()
    return row


def confirm(session: Session, row: SubscriptionRow, now: datetime | None = None) -> bool:
    """Make a pending subscription active; False if it was not pending (already done, or left)."""
    if row.status != "pending":
        return False
    row.status = "active"
    row.confirmed_at = now or utcnow()
    return True


def update(
    session: Session, row: SubscriptionRow, frequency: Frequency, interests: Interests
) -> None:
    """Change what an address receives (reached by a signed link, so no confirmation)."""
    row.frequency = frequency
    row.categories = interests.categories
    row.keywords = interests.keywords
    row.organizations = interests.organizations


def unsubscribe(session: Session, row: SubscriptionRow, now: datetime | None = None) -> bool:
    """Stop mailing the address; False if it was not subscribed (a second click is harmless)."""
    if row.status in ("unsubscribed", "bounced"):
        return False
    row.status = "unsubscribed"
    row.left_at = now or utcnow()
    return True


def mark_bounced(session: Session, row: SubscriptionRow, reason: str) -> None:
    """The server refused the address for good: never mail it again until it subscribes again."""
    row.status = "bounced"
    row.left_at = utcnow()
    row.bounce_reason = reason[:500]

