"""Which papers a digest holds: the period's top papers, interest matches, then "for you".

The "for you" ranking itself is paperfeed.rank.recommend, the one /for-you serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.core.text import shorten
from paperfeed.domain import Paper
from paperfeed.feed.periods import Period
from paperfeed.rank import recommend, related
from paperfeed.rank import trending as rank_trending
from paperfeed.rank.recommend import Recommender
from paperfeed.search.vectors import store as vectors_store
from paperfeed.store.models import OutboxRow
from paperfeed.store.reader import load_papers

from .subscriptions import Frequency, Interests

# How many papers each section holds at most: (top, interests, for you).
SECTION_SIZES: dict[Frequency, tuple[int, int, int]] = {
    "daily": (5, 10, 5),
    "weekly": (10, 15, 5),
}
# "For you" in a mail holds only papers scored at least this (z units: about the top sixth by
# content alone; any follow's lift reaches it).
FOR_YOU_MIN_SCORE = 1.0
# How far back "already sent" looks: a paper's listings and announcement fall within weeks, and
# the cost of the check stays bounded however long a subscription lives.
SENT_LOOKBACK = timedelta(days=180)


def period_of(frequency: Frequency, day: date) -> Period:
    """The period a digest covers: the day itself, or the ISO week containing it."""
    return Period.containing("day" if frequency == "daily" else "week", day)


def period_key(frequency: Frequency, period: Period) -> str:
    """The outbox idempotency key of a period: 'daily:2025-06-10', 'weekly:2025-W24'."""
    return f"{frequency}:{period.slug}"


def default_day(frequency: Frequency, today: date | None = None) -> date:
    """The period a scheduled run covers: yesterday's list, or last week (complete by now)."""
    today = today or utcnow().date()
    return today - timedelta(days=1 if frequency == "daily" else 7)


@dataclass(frozen=True)
class Section:
    """One part of a digest: its kind, a heading, its papers in order, and why each is there
    (for_you: the recommender's reason by paper id)."""

    kind: str  # top | interests | for_you
    title: str
    papers: list[Paper]
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pick:
    """A paper the recommender picked for one reader; its reason is worded only if it is sent."""

    paper: Paper
    ranked: recommend.Ranked

    @property
    def arxiv_id(self) -> str:
        return self.paper.arxiv_id

    @property
    def reason(self) -> str:
        return self.ranked.reason


@dataclass(frozen=True)
class DigestContent:
    """What one subscriber's digest for one period says."""

    frequency: Frequency
    period: Period
    sections: list[Section]

    @property
    def paper_ids(self) -> list[str]:
        return [paper.arxiv_id for section in self.sections for paper in section.papers]

    @property
    def empty(self) -> bool:
        return not any(section.papers for section in self.sections)


@dataclass
class PeriodPapers:
    """Every paper of one period, ranked, with indexes that make matching 10,000 readers cheap.

    Interest matching is lexical: a keyword matches a paper whose title, abstract or Hugging Face
    keywords contain it as whole words (case-insensitive); a category matches the paper's arXiv
    categories (an archive such as 'cs' matches all of cs.*); an organization matches its short or
    full name. "For you" ranks papers by cosine similarity to the reader's upvoted papers where
    search has stored embeddings of them, and by shared title/keyword terms otherwise.
    "For you" is the recommender's ranking of the pool (`for_you_picks`).
    """

    frequency: Frequency
    period: Period
    top: list[Paper]  # the period's featured papers (announced ones on a site without lists)
    pool: list[Paper]  # every paper of the period, featured or announced, most trending first
    # Stored embeddings of pool papers: (their pool indexes, the matrix), when search made any.
    vectors: tuple[list[int], np.ndarray] | None = None
    vector_model: str | None = None  # whose vectors those are
    _texts: list[str] = field(init=False, repr=False)
    _recommend_pool: recommend.Pool | None = field(init=False, repr=False, default=None)
    _by_category: dict[str, list[int]] = field(init=False, repr=False)
    _by_org: dict[str, list[int]] = field(init=False, repr=False)
    _keyword_cache: dict[str, list[int]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._texts = [_searchable(paper) for paper in self.pool]
        self._by_category = {}
        self._by_org = {}
        for index, paper in enumerate(self.pool):
            for category in paper.categories:
                self._by_category.setdefault(category.lower(), []).append(index)
                archive = category.split(".")[0].lower()
                if archive != category.lower():
                    self._by_category.setdefault(archive, []).append(index)
            if paper.organization:
                names = {paper.organization.name, paper.organization.fullname or ""}
                for name in names - {""}:
                    self._by_org.setdefault(name.casefold(), []).append(index)

    @property
    def key(self) -> str:
        return period_key(self.frequency, self.period)

    @property
    def has_papers(self) -> bool:
        return bool(self.pool)

    def select(
        self,
        interests: Interests,
        *,
        already_sent: set[str] | frozenset[str] = frozenset(),
        for_you: Sequence[Pick] = (),
    ) -> DigestContent:
        """One subscriber's digest: no paper twice, none sent to them in an earlier digest.

        `for_you` is the reader's pick of the pool, best first (`for_you_picks`).
        """
        top_size, interest_size, for_you_size = SECTION_SIZES[self.frequency]
        taken = set(already_sent)
        top = _take(self.top, taken, top_size)
        matches = _take(
            (self.pool[i] for i in self._interest_hits(interests)), taken, interest_size
        )
        picks = {pick.arxiv_id: pick for pick in for_you}
        picked = _take((pick.paper for pick in for_you), taken, for_you_size)
        reasons = {paper.arxiv_id: picks[paper.arxiv_id].reason for paper in picked}
        label = "today" if self.frequency == "daily" else "this week"
        sections = [
            Section("top", f"Trending {label}", top),
            Section("interests", "Matching your interests", matches),
            Section("for_you", "For you, from what you upvoted, saved and follow", picked, reasons),
        ]
        return DigestContent(self.frequency, self.period, [s for s in sections if s.papers])

    def recommend_pool(self, session: Session, recommender: Recommender) -> recommend.Pool:
        """The pool as the recommender's candidates (made once per period)."""
        if self._recommend_pool is None:
            vectors = None
            if self.vectors is not None and self.vector_model is not None:
                rows, matrix = self.vectors
                vectors = (self.vector_model, [self.pool[i].arxiv_id for i in rows], matrix)
            self._recommend_pool = recommender.pool_of(
                session, recommend.pool_papers_of(self.pool), vectors
            )
        return self._recommend_pool

    def _interest_hits(self, interests: Interests) -> list[int]:
        hits: set[int] = set()
        for category in interests.categories:
            hits.update(self._by_category.get(category.lower(), ()))
        for organization in interests.organizations:
            hits.update(self._by_org.get(organization.casefold(), ()))
        for keyword in interests.keywords:
            hits.update(self._keyword_hits(keyword))
        return sorted(hits)  # pool order is trending order

    def _keyword_hits(self, keyword: str) -> list[int]:
        needle = " ".join(keyword.casefold().split())
        cached = self._keyword_cache.get(needle)
        if cached is None:
            pattern = re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")
            cached = [
                i for i, text in enumerate(self._texts) if needle in text and pattern.search(text)
            ]
            self._keyword_cache[needle] = cached
        return cached



def load_period(
    session: Session,
    frequency: Frequency,
    day: date,
    *,
    vector_model: str | None = None,
    gravity: float = rank_trending.DEFAULT_GRAVITY,
) -> PeriodPapers:
    """The papers of the period containing `day`: featured on its daily lists or announced in it.

    With `vector_model`, the pool papers' stored embeddings of that model come along; `gravity`
    is the site's trending gravity (PAPERFEED_TRENDING_GRAVITY), as /trending uses.
    """
    period = period_of(frequency, day)
    ranked, featured = rank_trending.rank_period(
        session, period.first, period.last, gravity=gravity
    )
    papers = load_papers(session, [str(r.key) for r in ranked])
    pool = [papers[str(r.key)] for r in ranked if str(r.key) in papers]
    # A site that imports no daily lists (pure arXiv) has its top papers among all announced.
    top = [p for p in pool if p.arxiv_id in featured] if featured else pool
    vectors = None
    if vector_model is not None:
        ids, matrix = vectors_store.vectors_for(session, vector_model, [p.arxiv_id for p in pool])
        if ids:
            where = {paper.arxiv_id: index for index, paper in enumerate(pool)}
            vectors = ([where[paper_id] for paper_id in ids], matrix)
    return PeriodPapers(frequency, period, top, pool, vectors, vector_model if vectors else None)


def for_you_picks(
    session: Session, recommender: Recommender, papers: PeriodPapers, user_ids: Sequence[int]
) -> dict[int, list[Pick]]:
    """Each reader's "for you" papers of the period, best first: the recommender's ranking of
    the pool, down to FOR_YOU_MIN_SCORE; readers with no signals get none."""
    if not papers.pool or not user_ids:
        return {}
    pool = papers.recommend_pool(session, recommender)
    picks: dict[int, list[Pick]] = {}
    profiles = recommend.load_profiles(session, user_ids)
    recommender.related_given(  # every reader's liked papers' authors in a few queries
        session,
        [s.paper_id for profile in profiles.values() for s in profile.liked[: related.FROM_LIKED]],
    )
    for user_id, profile in profiles.items():
        if profile.cold:
            continue
        taste, titles = recommender.taste(session, profile, pool)
        ranked = recommender.rank(profile, pool, taste, titles)
        picks[user_id] = [
            Pick(papers.pool[r.row], r) for r in ranked if r.score >= FOR_YOU_MIN_SCORE
        ]
    return picks


def already_sent(session: Session, subscription_ids: Sequence[int]) -> dict[int, set[str]]:
    """Papers each subscription was sent (or is about to be) in its digests of SENT_LOOKBACK."""
    since = utcnow() - SENT_LOOKBACK
    sent: dict[int, set[str]] = {}
    for start in range(0, len(subscription_ids), 500):
        chunk = subscription_ids[start : start + 500]
        query = select(OutboxRow.subscription_id, OutboxRow.paper_ids).where(
            OutboxRow.subscription_id.in_(chunk),
            OutboxRow.kind == "digest",
            OutboxRow.status.in_(("pending", "sending", "sent")),
            OutboxRow.created_at >= since,
        )
        for subscription_id, paper_ids in session.execute(query):
            sent.setdefault(subscription_id, set()).update(paper_ids or ())
    return sent


def excerpt(paper: Paper, limit: int = 320) -> str:
    """One or two sentences about the paper: the AI summary, else the abstract's opening."""
    text = " ".join((paper.ai_summary or "").split())
    if not text:
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", " ".join(paper.abstract.split()))
        text = sentences[0] if sentences else ""
        if len(sentences) > 1 and len(text) + len(sentences[1]) < limit:
            text = f"{text} {sentences[1]}"
    return shorten(text, limit)


def _take(papers: Iterable[Paper], taken: set[str], size: int) -> list[Paper]:
    chosen: list[Paper] = []
    for paper in papers:
        if len(chosen) == size:
            break
        if paper.arxiv_id not in taken:
            taken.add(paper.arxiv_id)
            chosen.append(paper)
    return chosen


def _searchable(paper: Paper) -> str:
    keywords = " ".join(paper.ai_keywords or [])
    return " ".join(f"{paper.title} {paper.abstract} {keywords}".casefold().split())
