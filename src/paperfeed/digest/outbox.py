"""The outbox: one stored, rendered mail per (subscription, key), and its sending states.

States: pending -> sending (claimed by one sender process) -> sent; or skipped (a digest with
nothing new to say), or failed (the address bounced or left). See delivery.py for the order of
commits that makes a killed and restarted sender send every mail exactly once.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import OutboxRow, SubscriptionRow

# A claim by a sender on another host (whose life we cannot check) is taken over after this.
STALE_CLAIM = timedelta(minutes=10)
# Sent mails keep their body this long (for support questions), then only their facts:
# 10,000 daily digests are about 400 MB of message text a day.
KEEP_BODIES = timedelta(days=7)


@dataclass(frozen=True)
class ClaimedMail:
    """A mail this sender holds: the bytes to send and to whom."""

    id: int
    subscription_id: int
    kind: str
    recipient: str
    message_id: str
    message: bytes
    subscriber_status: str


def add(session: Session, **mail) -> bool:
    """Store a mail unless one with its (subscription, key) exists; True if it was added."""
    return add_many(session, [mail]) == 1


def add_many(session: Session, mails: list[dict]) -> int:
    """Store mails in one statement, skipping any whose (subscription, key) exists already.

    Each dict names subscription_id, key, kind and recipient; message_id, message, paper_ids,
    status and note are optional. Returns how many were added.
    """
    if not mails:
        return 0
    now = utcnow()
    rows = [
        {
            "message_id": "",
            "message": "",
            "paper_ids": [],
            "status": "pending",
            "note": None,
            **mail,
            "attempts": 0,
            "created_at": now,
        }
        for mail in mails
    ]
    statement = (
        insert(session, OutboxRow.__table__)
        .on_conflict_do_nothing(index_elements=["subscription_id", "key"])
        .returning(OutboxRow.id)
    )
    return len(session.execute(statement, rows).all())  # a skipped row returns nothing


def keys_present(session: Session, key: str) -> set[int]:
    """Subscriptions that already have a mail with this key (composed in an earlier run)."""
    return set(session.scalars(select(OutboxRow.subscription_id).where(OutboxRow.key == key)))


def last_created(session: Session, subscription_id: int, kind: str) -> datetime | None:
    query = select(func.max(OutboxRow.created_at)).where(
        OutboxRow.subscription_id == subscription_id, OutboxRow.kind == kind
    )
    return session.scalar(query)


def owner_id() -> str:
    """One sender run as a claim owner: host, pid, start time (a reused pid is not us), run tag.

    The run tag keeps two senders of one process apart (the schedule thread and a web request's
    confirmation mail): with the same owner, each would take the other's claims as its own.
    """
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}:{secrets.token_hex(4)}"


def release_abandoned(session: Session, now: datetime | None = None) -> int:
    """Give claims of dead senders back (a killed sender never reached the end of its DATA)."""
    now = now or utcnow()
    released = 0
    query = select(OutboxRow.id, OutboxRow.claimed_by, OutboxRow.claimed_at).where(
        OutboxRow.status == "sending"
    )
    for row_id, owner, claimed_at in session.execute(query).all():
        alive = _owner_alive(owner or "")
        if alive is False or (alive is None and (claimed_at or now) < now - STALE_CLAIM):
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == "sending",
                    OutboxRow.claimed_by == owner,
                )
                .values(status="pending", claimed_by=None, claimed_at=None)
            )
            released += rowcount(result)
    return released


def claim(
    session: Session,
    owner: str,
    after_id: int = 0,
    *,
    size: int = 1,
    subscription_id: int | None = None,
) -> list[ClaimedMail]:
    """Take up to `size` of the oldest pending mails (after `after_id`) for this sender.

    A mail another sender took between the two statements is left out; an empty list means no
    pending mail is left.
    """
    query = (
        select(OutboxRow.id)
        .where(OutboxRow.status == "pending", OutboxRow.id > after_id)
        .order_by(OutboxRow.id)
        .limit(size)
    )
    if subscription_id is not None:
        query = query.where(OutboxRow.subscription_id == subscription_id)
    ids = list(session.scalars(query))
    if not ids:
        return []
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending")
        .values(
            status="sending", claimed_by=owner, claimed_at=utcnow(), attempts=OutboxRow.attempts + 1
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(OutboxRow, SubscriptionRow.status)
        .join(SubscriptionRow, SubscriptionRow.id == OutboxRow.subscription_id)
        .where(OutboxRow.id.in_(ids), OutboxRow.status == "sending", OutboxRow.claimed_by == owner)
        .order_by(OutboxRow.id)
    ).all()
    claimed = [
        ClaimedMail(
            id=mail.id,
            subscription_id=mail.subscription_id,
            kind=mail.kind,
            recipient=mail.recipient,
            message_id=mail.message_id,
            message=mail.message.encode("ascii"),
            subscriber_status=subscriber_status,
        )
        for mail, subscriber_status in rows
    ]
    if not claimed:  # all taken by another sender: look further on
        return claim(session, owner, ids[-1], size=size, subscription_id=subscription_id)
    return claimed


def set_status(
    session: Session,
    mail_id: int,
    owner: str,
    status: str,
    *,
    note: str | None = None,
    sent: bool = False,
) -> None:
    """Move a mail this sender holds to `status` (pending gives the claim back)."""
    values: dict = {"status": status}
    if note is not None:
        values["note"] = note[:1000]
    if status == "pending":
        values.update(claimed_by=None, claimed_at=None)
    values["sent_at"] = utcnow() if sent else None
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == mail_id, OutboxRow.claimed_by == owner)
        .values(values)
        .execution_options(synchronize_session=False)
    )


def forget_bodies(session: Session, before: datetime | None = None) -> int:
    """Empty the stored message of finished mails created before `before` (default: a week ago).

    The row stays, with its Message-ID and paper ids: the idempotency key and "already sent" need
    nothing more.
    """
    before = before or utcnow() - KEEP_BODIES
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.status.in_(("sent", "failed", "skipped")),
            OutboxRow.created_at < before,
            OutboxRow.message != "",
        )
        .values(message="")
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def counts(session: Session, key: str | None = None) -> dict[str, int]:
    """How many mails are in each state (of one key, or all)."""
    query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
    if key is not None:
        query = query.where(OutboxRow.key == key)
    return {status: count for status, count in session.execute(query)}


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' where /proc is missing)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 - a one-shot read
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a killed process not yet reaped is dead already
        raise ProcessLookupError(pid)
    return fields[19]


def _owner_alive(owner: str) -> bool | None:
    """Whether the claiming process still runs: None when it ran on another host."""
    host, _, rest = owner.partition(":")
    pid_text, _, rest = rest.partition(":")
    start = rest.partition(":")[0]  # the run tag after it says nothing about the process
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        if start:
            return _start_time(int(pid_text)) == start
        os.kill(int(pid_text), 0)  # no /proc: only whether the pid exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
