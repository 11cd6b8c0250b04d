"""Submitting a paper to today's daily list by arXiv id or URL, under configurable rules.

The rules follow Hugging Face's: the submitter is logged in (the web layer requires it), the
paper is at most `max_age_days` old (since its first version, else its first announcement), it
is not on any daily list already, and one user submits at most `daily_cap` papers a UTC day.
A paper not stored yet is fetched from the arXiv API through paperfeed.ingest and stored.

The cap is a rate limit (community/limits.py: one atomic counter, so concurrent submits never
pass it together) counted before arXiv is asked: a fetch that fails counts too. The fetch runs
inside the request, so it is strictly bounded: one try, ARXIV_TIMEOUT_S, and at most
ARXIV_FETCHES_AT_ONCE per process; one more is refused at once (503) rather than left to hold a
worker thread while arXiv is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperfeed.core.clock import as_utc, start_of, utcnow
from paperfeed.core.errors import RateLimited, Refused
from paperfeed.domain import DailyEntry, InvalidArxivId, Paper, parse_arxiv_id
from paperfeed.ingest import arxiv_api
from paperfeed.ingest.http import PoliteClient, RemoteError
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.models import DailyEntryRow, SubmissionRow, UserRow
from paperfeed.store.writer import save_papers

from .limits import Limits, Rate

# Fetches a paper by id (no version) from arXiv: None if arXiv has no such paper.
Fetcher = Callable[[str], Paper | None]
SOURCE = "local"  # daily_entries.source of a list entry a local user submitted
ARXIV_TIMEOUT_S = 10.0  # the whole fetch of one paper, connecting and reading
ARXIV_FETCHES_AT_ONCE = 2
_fetching = threading.BoundedSemaphore(ARXIV_FETCHES_AT_ONCE)


class SubmissionRefused(Refused, ValueError):
    """The paper cannot be submitted; the message says why, `status` is the HTTP status."""


class SubmissionCapped(SubmissionRefused, RateLimited):
    """The day's cap (or the address's limit) is reached; `retry_after_s` says when it resets."""

    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        RateLimited.__init__(self, message, retry_after_s)


@dataclass(frozen=True)
class SubmissionRules:
    """The configurable rules (Hugging Face's by default)."""

    max_age_days: int = 7
    daily_cap: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> SubmissionRules:
        """The rules an operator configured (PAPERFEED_SUBMIT_*)."""
        return cls(settings.submit_max_age_days, settings.submit_daily_cap)


def arxiv_fetcher(settings: Settings) -> Fetcher:
    """A Fetcher asking the arXiv API the settings name, briefly: a person is waiting.

    One try within ARXIV_TIMEOUT_S (no retries, so no Retry-After to wait out), at most
    ARXIV_FETCHES_AT_ONCE at a time; RemoteError at once when that many are in flight.
    """

    def fetch(arxiv_id: str) -> Paper | None:
        if not _fetching.acquire(blocking=False):
            raise RemoteError("other papers are being fetched from arXiv just now")
        try:
            timeout = min(settings.http_timeout_s, ARXIV_TIMEOUT_S)
            with PoliteClient(
                delay_s=0, timeout_s=timeout, retries=0, deadline_s=timeout
            ) as client:
                return arxiv_api.fetch_paper(client, settings.arxiv_api_url, arxiv_id)
        finally:
            _fetching.release()

    return fetch


def submit_paper(
    session: Session,
    user: UserRow,
    text: str,
    *,
    fetch: Fetcher,
    limits: Limits,
    client: str = "",
    rules: SubmissionRules = SubmissionRules(),
    now: datetime | None = None,
) -> DailyEntry:
    """Feature the paper `text` names (an id or arXiv URL) on today's list, submitted by `user`.

    Raises SubmissionRefused with a message for the submitter. The caller commits; the cap's
    counter commits on its own connection, so call this before writing in `session`.
    """
    now = as_utc(now) if now else utcnow()
    today = now.date()
    try:
        arxiv_id, _version = parse_arxiv_id(text or "")
    except InvalidArxivId:
        raise SubmissionRefused(
            f"{(text or '').strip()[:80]!r} is not an arXiv id or arXiv URL "
            "(e.g. 2506.08007 or https://arxiv.org/abs/2506.08007).",
            422,  # what the API documents for it (schemathesis found 400)
        ) from None
    listed = session.scalar(
        select(func.min(DailyEntryRow.day)).where(DailyEntryRow.paper_id == arxiv_id)
    )
    if listed is not None:
        raise SubmissionRefused(
            f"{arxiv_id} is already on the daily list of {listed.isoformat()}.", 409
        )
    paper = reader.get_paper(session, arxiv_id)
    if paper is not None:
        _check_age(paper, now, rules)
    _count_try(limits, user, client, rules, now)
    if paper is None:
        try:
            fetched = fetch(arxiv_id)
        except RemoteError as error:
            raise SubmissionRefused(
                f"arXiv could not be asked about {arxiv_id} just now ({error}); try again later.",
                503,
            ) from None
        if fetched is None:
            raise SubmissionRefused(f"arXiv has no paper {arxiv_id}.", 404)
        save_papers(session, [fetched])
        paper = reader.get_paper(session, arxiv_id)
        assert paper is not None
    _check_age(paper, now, rules)
    try:
        with session.begin_nested():
            session.add(
                DailyEntryRow(
                    day=today, paper_id=arxiv_id, submitted_by=user.username,
                    submitted_at=now, num_comments=0, is_author_participating=False,
                    source=SOURCE,
                )
            )  # fmt: skip
            session.add(
                SubmissionRow(user_id=user.id, paper_id=arxiv_id, day=today, created_at=now)
            )
    except IntegrityError:  # someone submitted it at the same moment
        raise SubmissionRefused(f"{arxiv_id} is already on today's list.", 409) from None
    return reader.listings_of(session, paper)[-1]


def submissions_today(
    limits: Limits, user: UserRow, rules: SubmissionRules, now: datetime | None = None
) -> int:
    """How many submissions the user has made this UTC day (those arXiv failed on too)."""
    return _limits(limits, rules).used("submit.user", str(user.id), now=now)


def _limits(limits: Limits, rules: SubmissionRules) -> Limits:
    return limits.with_rates({"submit.user": Rate(rules.daily_cap, 86400)})


def _count_try(
    limits: Limits, user: UserRow, client: str, rules: SubmissionRules, now: datetime
) -> None:
    cap = rules.daily_cap
    capped = (
        f"You have made {cap} submission{'s' if cap != 1 else ''} today, the most one may "
        "(one arXiv was asked about counts, found or not); try again tomorrow (UTC)."
    )
    checks = [("submit.user", str(user.id))] + ([("submit.addr", client)] if client else [])
    try:
        _limits(limits, rules).hit(checks, now=now, messages={"submit.user": capped})
    except RateLimited as error:
        raise SubmissionCapped(str(error), error.retry_after_s) from None


def _check_age(paper: Paper, now: datetime, rules: SubmissionRules) -> None:
    if paper.published_at is not None:
        born = paper.published_at
    elif paper.announced_on is not None:
        born = start_of(paper.announced_on)
    else:
        raise SubmissionRefused(
            f"{paper.arxiv_id} has no known date; its age cannot be checked.", 422
        )
    if now - born > timedelta(days=rules.max_age_days):
        raise SubmissionRefused(
            f"{paper.arxiv_id} was published on {born.date().isoformat()}, more than "
            f"{rules.max_age_days} days ago; only recent papers can be submitted.",
            422,
        )

