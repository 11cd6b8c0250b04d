"""The digests service the web and CLI call: subscribe, confirm, leave, compose, send, preview."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.core.progress import ProgressSink
from paperfeed.core.secrets import site_secret
from paperfeed.domain import normalize_email
from paperfeed.rank.recommend import Recommender
from paperfeed.search.embedding import dense_model
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.db import Database
from paperfeed.store.models import SubscriptionRow

from . import compose, delivery, outbox, subscriptions
from .compose import DigestContent, PeriodPapers
from .render import MailRenderer, message_id
from .subscriptions import Frequency, Interests
from .tokens import InvalidToken, LinkSigner, Purpose, link_subject

COMPOSE_BATCH = 500  # subscribers per committed transaction when composing


def renderer(settings: Settings) -> MailRenderer:
    """A mail renderer for this site (links signed with its secret)."""
    return MailRenderer(settings, LinkSigner(site_secret(settings)))


def interests_of(row: SubscriptionRow) -> Interests:
    """A stored subscription's interests (validated when they were saved)."""
    return Interests.model_construct(
        categories=list(row.categories or []),
        keywords=list(row.keywords or []),
        organizations=list(row.organizations or []),
    )


# --- subscribing, confirming, leaving ---


def request_subscription(
    session: Session,
    settings: Settings,
    email: str,
    frequency: Frequency,
    interests: Interests,
    *,
    user_id: int | None = None,
) -> SubscriptionRow:
    """Record the request and queue the confirmation mail (the caller commits, then delivers).

    Raises InvalidEmail for an address that is not one. At most one mail per address per
    CONFIRM_INTERVAL, so the public form cannot flood an inbox; a request in that interval
    changes nothing, and one that changes a subscription always mails a new confirmation link
    (the old links stop confirming), so a pending subscription is never changed behind the
    back of the address that will confirm it.
    """
    existing = subscriptions.by_email(session, normalize_email(email))
    last = outbox.last_created(session, existing.id, "confirm") if existing else None
    if last is not None and last > utcnow() - subscriptions.CONFIRM_INTERVAL:
        # No new mail now, so nothing changes: the link mailed a moment ago confirms exactly
        # what was asked then (someone else's request must not ride on it).
        assert existing is not None
        return existing
    row = subscriptions.request(session, email, frequency, interests, user_id=user_id)
    row.confirmations_sent += 1
    key = f"confirm:{row.confirmations_sent}"
    mails = renderer(settings)
    mail = mails.confirmation(row, already_active=row.status == "active")
    mid = message_id("confirm", key, row.id, settings)
    message = mails.message(row, mail, message_id=mid, list_mail=False)
    outbox.add(
        session,
        subscription_id=row.id,
        key=key,
        kind="confirm",
        recipient=row.email,
        message_id=mid,
        message=message.as_bytes().decode("ascii"),
    )
    return row


def subscribe(
    db: Database,
    settings: Settings,
    email: str,
    frequency: Frequency,
    interests: Interests,
    *,
    user_id: int | None = None,
) -> tuple[int, str]:
    """request_subscription in its own transaction: (subscription id, address as stored).

    Two requests for one new address at once: the second insert hits the unique address, and
    its retry finds the first one's row.
    """
    for attempt in range(2):
        try:
            with db.transaction() as session:
                row = request_subscription(
                    session, settings, email, frequency, interests, user_id=user_id
                )
                return row.id, row.email
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def token_for(settings: Settings, purpose: Purpose, row: SubscriptionRow) -> str:
    """The signed token of a link about this subscription."""
    subject = link_subject(purpose, row.email, row.confirmations_sent)
    return LinkSigner(site_secret(settings)).make(purpose, row.id, subject)


def subscription_for_token(
    session: Session, settings: Settings, purpose: Purpose, token: str
) -> SubscriptionRow:
    """The subscription a link names; InvalidToken if the link is bad, expired or stale."""
    signer = LinkSigner(site_secret(settings))
    subscription_id, tag = signer.read(purpose, token)
    row = subscriptions.get(session, subscription_id)
    if row is None:
        raise InvalidToken("This link is for a subscription that no longer exists.")
    if signer.matches(link_subject(purpose, row.email, row.confirmations_sent), tag):
        return row
    if purpose == "confirm" and any(
        signer.matches(link_subject(purpose, row.email, n), tag)
        for n in range(row.confirmations_sent)
    ):
        raise InvalidToken(
            "This confirmation link is out of date: the subscription was asked for again since, "
            "and the newest mail has the link that confirms it."
        )
    raise InvalidToken("This link is for a subscription that no longer exists.")


# --- composing and sending digests ---


@dataclass
class ComposeReport:
    """What composing one period's digests did."""

    key: str
    papers: int  # papers in the period
    composed: int = 0
    nothing_new: int = 0  # every paper of the period was in the subscriber's earlier digests
    already: int = 0  # composed by an earlier run


def compose_due(
    db: Database,
    settings: Settings,
    frequency: Frequency,
    day: date,
    *,
    workers: int = 1,
    progress: ProgressSink | None = None,
) -> ComposeReport:
    """Store one digest per active subscriber of `frequency` for the period containing `day`.

    The empty-period rule: a period with no papers (a weekend, a holiday, no import yet) gets no
    mail and no outbox rows, so a later run, after papers arrive, still composes it. A subscriber
    for whom every paper of the period was already sent gets no mail: a 'skipped' row says why.
    With `workers` > 1, batches are composed in that many processes (rendering is CPU-bound).
    """
    with db.sessions() as session:
        papers = compose.load_period(
            session,
            frequency,
            day,
            vector_model=dense_model(settings),
            gravity=settings.trending_gravity,
        )
        report = ComposeReport(papers.key, len(papers.pool))
        if not papers.has_papers:
            return report
        subscribers = list(
            session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.status == "active", SubscriptionRow.frequency == frequency)
                .order_by(SubscriptionRow.id)
            )
        )
        done = outbox.keys_present(session, papers.key)
    todo = [row for row in subscribers if row.id not in done]
    report.already = len(subscribers) - len(todo)
    if progress is not None:
        progress.start(f"composing {papers.key}", len(todo))
    batches = [todo[start : start + COMPOSE_BATCH] for start in range(0, len(todo), COMPOSE_BATCH)]
    if workers > 1 and len(batches) > 1:
        context = multiprocessing.get_context("spawn")  # no engine or lock inherited by fork
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            jobs = [
                pool.submit(_compose_ids, db.url, settings, frequency, day, [r.id for r in batch])
                for batch in batches
            ]
            for job, batch in zip(jobs, batches, strict=True):
                _count(report, job.result())
                if progress is not None:
                    progress.advance(len(batch))
        return report
    mails = renderer(settings)
    for batch in batches:
        _count(report, _compose_batch(db, settings, mails, papers, batch))
        if progress is not None:
            progress.advance(len(batch))
    return report


def _count(report: ComposeReport, counts: tuple[int, int, int]) -> None:
    composed, nothing_new, conflicts = counts
    report.composed += composed
    report.nothing_new += nothing_new
    report.already += conflicts  # composed by a run beside this one


def _compose_batch(
    db: Database,
    settings: Settings,
    mails: MailRenderer,
    papers: PeriodPapers,
    batch: list[SubscriptionRow],
) -> tuple[int, int, int]:
    """Compose and store one batch: (composed, nothing new, already there)."""
    with db.sessions() as session:  # read, then compose outside any transaction
        sent = compose.already_sent(session, [row.id for row in batch])
        users = sorted({r.user_id for r in batch if r.user_id})
        picks = compose.for_you_picks(session, _recommender(settings), papers, users)
    rows = []
    for row in batch:
        content = papers.select(
            interests_of(row),
            already_sent=sent.get(row.id, frozenset()),
            for_you=picks.get(row.user_id, ()) if row.user_id else (),
        )
        rows.append(_digest_mail(settings, mails, papers, row, content))
    with db.transaction() as session:  # a short write: SQLite allows one writer at a time
        added = outbox.add_many(session, rows)
    skipped = sum(1 for row in rows if row["status"] == "skipped")
    return len(rows) - skipped, skipped, len(rows) - added


def _compose_ids(
    url: str, settings: Settings, frequency: Frequency, day: date, ids: list[int]
) -> tuple[int, int, int]:
    """One batch in a worker process (a pool lives for one compose_due call)."""
    state = _worker_state.get((url, frequency, day))
    if state is None:  # the first batch of this worker: open, load the period, make a renderer
        db = Database(url, migrate=False)
        with db.sessions() as session:
            papers = compose.load_period(
                session,
                frequency,
                day,
                vector_model=dense_model(settings),
                gravity=settings.trending_gravity,
            )
        state = _worker_state[(url, frequency, day)] = (db, papers, renderer(settings))
    db, papers, mails = state
    with db.sessions() as session:
        query = select(SubscriptionRow).where(SubscriptionRow.id.in_(ids))
        batch = list(session.scalars(query.order_by(SubscriptionRow.id)))
    return _compose_batch(db, settings, mails, papers, batch)


def _recommender(settings: Settings) -> Recommender:
    """One recommender per data folder in this process (its word space loads once)."""
    key = str(settings.home.resolve())
    found = _recommenders.get(key)
    if found is None or found.settings is not settings:
        found = _recommenders[key] = Recommender(settings)
    return found


_recommenders: dict[str, Recommender] = {}

# A worker process's open database, period papers and renderer, reused by each of its batches.
_worker_state: dict[tuple, tuple[Database, PeriodPapers, MailRenderer]] = {}


def _digest_mail(
    settings: Settings,
    mails: MailRenderer,
    papers: PeriodPapers,
    row: SubscriptionRow,
    content: DigestContent,
) -> dict:
    """The outbox row of one digest: the rendered message, or 'skipped' with nothing new."""
    mail = {"subscription_id": row.id, "key": papers.key, "kind": "digest", "recipient": row.email}
    if content.empty:
        return {
            **mail,
            "status": "skipped",
            "note": "every paper of the period was in an earlier digest",
        }
    mid = message_id("digest", papers.key, row.id, settings)
    message = mails.message(row, mails.digest(row, content), message_id=mid, list_mail=True)
    return {
        **mail,
        "status": "pending",
        "message_id": mid,
        "message": message.as_bytes().decode("ascii"),
        "paper_ids": content.paper_ids,
    }


def send_digests(
    db: Database,
    settings: Settings,
    frequency: Frequency,
    day: date,
    *,
    workers: int = 1,
    progress: ProgressSink | None = None,
    retry: delivery.RetryPolicy | None = None,
) -> tuple[ComposeReport, delivery.DeliveryReport]:
    """Compose what is due for the period, then send everything pending (of any earlier run too)."""
    composed = compose_due(db, settings, frequency, day, workers=workers, progress=progress)
    sent = delivery.deliver(db, settings, retry=retry, progress=progress)
    with db.transaction() as session:
        outbox.forget_bodies(session)
    return composed, sent


# --- previews ---


@dataclass(frozen=True)
class Preview:
    """The next digest of one subscriber, rendered and not sent."""

    subject: str
    text: str
    html: str
    content: DigestContent
    note: str | None = None  # e.g. why another period than the next one is shown


def unsaved_subscription(email: str, user_id: int | None = None) -> SubscriptionRow:
    """A daily subscription that is not stored (id 0): what someone not subscribed would get."""
    return SubscriptionRow(id=0, email=email, frequency="daily", user_id=user_id)


def preview(
    session: Session,
    settings: Settings,
    subscription: SubscriptionRow,
    frequency: Frequency | None = None,
    day: date | None = None,
) -> Preview | None:
    """The digest `subscription` would get next (None on a site with no papers at all).

    With no `day`, the period a scheduled run would send next; if that period has no papers
    (historical data, a weekend), the latest period that has some, and the note says so.
    """
    frequency = frequency or subscription.frequency  # type: ignore[assignment]
    note = None
    target = day or compose.default_day(frequency)  # type: ignore[arg-type]
    model, gravity = dense_model(settings), settings.trending_gravity
    papers = compose.load_period(session, frequency, target, vector_model=model, gravity=gravity)  # type: ignore[arg-type]
    if not papers.has_papers and day is None:
        latest = reader.latest_day(session, "featured") or reader.latest_day(session, "all")
        if latest is None:
            return None
        papers = compose.load_period(
            session,
            frequency,  # type: ignore[arg-type]
            latest,
            vector_model=model,
            gravity=gravity,
        )
        note = f"No papers yet for the next digest; showing {papers.period.label} instead."
    sent = compose.already_sent(session, [subscription.id]) if subscription.id else {}
    picks = (
        compose.for_you_picks(session, _recommender(settings), papers, [subscription.user_id])
        if subscription.user_id
        else {}
    )
    content = papers.select(
        interests_of(subscription),
        already_sent=sent.get(subscription.id, frozenset()),
        for_you=picks.get(subscription.user_id, ()) if subscription.user_id else (),
    )
    mail = renderer(settings).digest(subscription, content)
    if not papers.has_papers:
        note = f"No papers in {papers.period.label} (a weekend or holiday?): no digest is sent."
    elif content.empty and note is None:
        note = f"Nothing new for {papers.period.label}: no digest would be sent."
    return Preview(mail.subject, mail.text, mail.html, content, note)
