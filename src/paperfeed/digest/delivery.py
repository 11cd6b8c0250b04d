"""Sends what the outbox holds, each mail once, even when the sender is killed and restarted.

Per mail: (1) claim it: pending -> sending, owned by this process (host, pid, start time), and
commit (CLAIM_BATCH mails per commit); (2) MAIL FROM, RCPT TO, DATA, the message and the final
"." line; (3) as soon as the server answers 250 to that line, commit the row as sent, before
anything else (no QUIT first).

A sender killed before the 250 leaves a row claimed by a dead process. The server either never
got the final line or saw the connection close while still handling it; aiosmtpd, like any server
that only takes responsibility once it has answered, then drops the message. The next run gives
such claims back (release_abandoned: same host and the pid is gone or reused) and sends them
again with the same bytes and Message-ID. The residual window is the server's 250 in flight plus
one UPDATE and COMMIT (well under a millisecond on loopback): a kill exactly there makes a
duplicate, which the unchanged Message-ID lets mail clients discard. A server that keeps a
message although the client vanished before its 250 widens that window to its own processing.
A claim from another host is taken over only after STALE_CLAIM.
"""

from __future__ import annotations

import email.utils
import logging
from dataclasses import dataclass

from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from paperfeed.core.progress import ProgressSink
from paperfeed.settings import Settings
from paperfeed.store.db import Database

from . import outbox, subscriptions
from .smtp import (
    PermanentSmtpError,
    SmtpConfigError,
    SmtpConnection,
    TransientSmtpError,
)

log = logging.getLogger(__name__)
# Mails claimed per commit: each is still marked sent in its own commit the moment it is sent;
# a sender killed mid-batch leaves the unsent rest claimed, and the next run takes them back.
CLAIM_BATCH = 20


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient SMTP failure is retried within one run."""

    attempts: int = 5
    first_wait_s: float = 2.0
    max_wait_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(attempts=settings.smtp_retries, first_wait_s=settings.smtp_retry_wait_s)


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    bounced: int = 0
    dropped: int = 0  # the subscriber left before the mail went out
    refused: int = 0  # the server refused the message itself (5xx not about the address)
    stopped: str | None = None  # why the run stopped early; the rest waits for the next run

    @property
    def done(self) -> int:
        return self.sent + self.bounced + self.dropped + self.refused


def deliver(
    db: Database,
    settings: Settings,
    *,
    subscription_id: int | None = None,
    retry: RetryPolicy | None = None,
    progress: ProgressSink | None = None,
    limit: int | None = None,
) -> DeliveryReport:
    """Send every pending mail (of one subscription, if given; at most `limit`), oldest first."""
    retry = retry or RetryPolicy.from_settings(settings)
    owner = outbox.owner_id()
    report = DeliveryReport()
    with db.transaction() as session:
        released = outbox.release_abandoned(session)
        pending = outbox.counts(session).get("pending", 0) if progress is not None else 0
    if released:
        log.warning("took back %d mails claimed by a sender that stopped", released)
    if progress is not None:
        progress.start("sending", pending)
    envelope_from = email.utils.parseaddr(settings.mail_from)[1]
    after_id = 0
    with SmtpConnection(settings) as connection:
        while report.stopped is None:
            size = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - report.done)
            if size <= 0:
                break
            with db.transaction() as session:
                batch = outbox.claim(
                    session, owner, after_id, size=size, subscription_id=subscription_id
                )
            if not batch:
                break
            after_id = batch[-1].id
            for mail in batch:
                if report.stopped is not None:  # give the rest of the batch back, untried
                    _finish(db, mail, owner, "pending", f"not tried: {report.stopped}")
                    continue
                _deliver_one(connection, db, mail, owner, envelope_from, retry, report)
                if progress is not None:
                    progress.advance()
    return report


def _deliver_one(
    connection: SmtpConnection,
    db: Database,
    mail: outbox.ClaimedMail,
    owner: str,
    envelope_from: str,
    retry: RetryPolicy,
    report: DeliveryReport,
) -> None:
    if not _wanted(mail):
        _finish(db, mail, owner, "failed", "the subscriber left before it was sent")
        report.dropped += 1
        return
    try:
        _send(connection, db, mail, owner, envelope_from, retry)
        report.sent += 1
    except PermanentSmtpError as error:
        if error.bad_address:
            _bounce(db, mail, owner, str(error))
            report.bounced += 1
        else:  # refused for what it says, not where it goes: keep the address
            log.warning("%s refused for good: %s", mail.message_id, error)
            _finish(db, mail, owner, "failed", str(error))
            report.refused += 1
    except (TransientSmtpError, SmtpConfigError) as error:
        _finish(db, mail, owner, "pending", str(error))
        report.stopped = str(error)


def _wanted(mail: outbox.ClaimedMail) -> bool:
    if mail.kind == "digest":
        return mail.subscriber_status == "active"
    return mail.subscriber_status in ("pending", "active")


def _send(
    connection: SmtpConnection,
    db: Database,
    mail: outbox.ClaimedMail,
    owner: str,
    envelope_from: str,
    retry: RetryPolicy,
) -> None:
    """One mail, retried on transient failures; recorded as sent the moment the server took it."""

    def attempt() -> None:
        connection.send(envelope_from, mail.recipient, mail.message)
        with db.transaction() as session:
            outbox.set_status(session, mail.id, owner, "sent", sent=True)

    Retrying(
        retry=retry_if_exception_type(TransientSmtpError),
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential(multiplier=retry.first_wait_s, max=retry.max_wait_s),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )(attempt)


def _finish(db: Database, mail: outbox.ClaimedMail, owner: str, status: str, note: str) -> None:
    with db.transaction() as session:
        outbox.set_status(session, mail.id, owner, status, note=note)


def _bounce(db: Database, mail: outbox.ClaimedMail, owner: str, reason: str) -> None:
    """A permanent refusal: the mail failed and the address gets nothing more."""
    log.warning("%s refused for good: %s", mail.recipient, reason)
    with db.transaction() as session:
        outbox.set_status(session, mail.id, owner, "failed", note=reason)
        row = subscriptions.get(session, mail.subscription_id)
        if row is not None:
            subscriptions.mark_bounced(session, row, reason)
