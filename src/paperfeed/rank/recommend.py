"""The recommender: every paper of a period scored for one reader, each with the reason it is there.

What a reader tells it: upvotes and papers saved in collections (liked; paperfeed.community),
"not interested" (disliked; rank/dismissals.py), and follows of authors, organizations, arXiv
categories and saved searches (rank/follows.py). A candidate's score is its content score
(rank/content.py: closeness to the liked papers by words and by meaning, recent signals weighing
more, and to their authors' other papers (rank/related.py), minus closeness to dismissed ones,
lifted where its abstract links to the code or page of an owner a liked paper links to:
rank/links.py) plus a fixed lift for each follow it matches (FOLLOW_LIFTS, in the same z
units), plus a small share of its trending rank that breaks ties.
Nothing is trained ahead: the reader's signals are read at each request, so an upvote changes the
next page. A reader with no signals at all is "cold" and gets the period's trending order (and
the onboarding page offers categories and papers to start from).

What costs time is cached per process: the word space (document frequencies of every stored
paper, also kept in the data folder and refreshed when the corpus grew by a tenth), the
candidates of a period (their word rows and centered vectors, keyed by the exact candidate
list, with each liked paper's cosines to them and each set of follows' lifts), and liked papers'
texts (a minute), word rows and vectors: after a new upvote a request reads and scores one paper
more, not the reader's whole taste. bench/recommend.py measures a request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, overload

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Integer, Select, func, literal_column, select, union_all
from sqlalchemy.orm import Session
from threadpoolctl import ThreadpoolController

from paperfeed.core.clock import as_utc, utcnow
from paperfeed.core.errors import Invalid
from paperfeed.domain import DailyEntry, Paper, normalize_name
from paperfeed.rank import content, dismissals, follows, links, related, trending
from paperfeed.rank.content import Candidates, Taste, WordSpace
from paperfeed.rank.follows import Follow
from paperfeed.search import lexical
from paperfeed.search.embedding import tier_models
from paperfeed.search.vectors import store as vectors_store
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.models import (
    AuthorRow,
    CollectionPaperRow,
    CollectionRow,
    OrganizationRow,
    PaperAuthorRow,
    PaperEmbeddingRow,
    PaperRow,
    ReaderStateRow,
    UpvoteRow,
)

# Lifts for what a candidate matches of the reader's follows, in z units of the content score.
FOLLOW_LIFTS = {"author": 5.0, "search": 2.0, "organization": 1.5, "category": 1.0}
CROSS_LIST_LIFT = 0.5  # a followed category that is not the paper's primary one
TRENDING_WEIGHT = 0.2  # the trending rank's share: 0.2 between the period's first and last
MAX_LIKED = 300  # the most recent liked papers a taste is made of (bounds a request's cost)
MAX_DISLIKED = 200
MAX_SPAN_DAYS = 92  # the longest from/to range recommendations are asked for
POOL_TTL_S = 60  # a span's candidates are looked up again after this (new papers, new ranks)
RELATED_TTL_S = 3600  # a liked paper's authors' other papers are looked up again after this
REFRESH_S = 600  # how often a process checks whether the word space and centers are stale
STALE_SHARE = 0.1  # refit them when the corpus changed by this share
TITLE_IN_REASON = 80
_CACHED_POOLS = 8
_CACHED_ROWS = 20_000
_CACHED_RANKINGS = 512
_CACHED_LIFTS = 256  # per pool
# what a row of the profile query says: liked, disliked, or when the reader cleared the history
_LIKED_KIND, _DISLIKED_KIND, _CLEARED_KIND = 1, 0, 2
_LIKED = literal_column(str(_LIKED_KIND), Integer)
_DISLIKED = literal_column(str(_DISLIKED_KIND), Integer)
_CLEARED = literal_column(str(_CLEARED_KIND), Integer)


class InvalidSpan(Invalid):
    """A from/to range recommendations cannot be made for."""


@dataclass(frozen=True)
class Signal:
    """A liked or dismissed paper and when the reader said so."""

    paper_id: str
    at: datetime


@dataclass
class Profile:
    """Everything the recommender knows about one reader."""

    user_id: int
    liked: list[Signal] = field(default_factory=list)  # newest first
    disliked: list[Signal] = field(default_factory=list)
    follows: list[Follow] = field(default_factory=list)
    cleared_at: datetime | None = None

    @property
    def cold(self) -> bool:
        """No signal at all: the reader sees trending papers until they give one."""
        return not self.liked and not self.follows

    @property
    def signature(self) -> tuple:
        """Everything a ranking depends on: equal signatures rank a pool the same."""
        return (tuple(self.liked), tuple(self.disliked), tuple(self.follows), self.cleared_at)

    @property
    def known(self) -> set[str]:
        """Papers the reader already told about (never recommended again)."""
        return {s.paper_id for s in self.liked} | {s.paper_id for s in self.disliked}


@dataclass(frozen=True)
class Recommendation:
    """One recommended paper: its score, why, and its listing in the period if it has one."""

    paper: Paper
    score: float
    reason: str
    entry: DailyEntry | None = None


@dataclass(frozen=True)
class RecommendationPage:
    """One page of a reader's recommendations for a span of days."""

    first: date
    last: date
    items: list[Recommendation]
    total: int
    page: int
    page_size: int
    cold: bool  # the reader has no signals: these are the trending papers

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class PoolPaper:
    """What the recommender reads of a candidate."""

    id: str
    title: str
    abstract: str
    categories: tuple[str, ...]  # lower case, primary first
    organizations: frozenset[str]  # short and full name, case-folded
    authors: tuple[tuple[str, str], ...]  # (name key, name as written)


@dataclass
class Pool:
    """The candidates of a period in the order of their trending rank, in both spaces, with
    lookups from an author, organization, category or stemmed word to the rows that have it."""

    papers: list[PoolPaper]
    candidates: Candidates
    model: str | None  # whose vectors `candidates` holds
    _lookups: dict[str, dict[str, list[int]]] | None = None
    # follows -> their lifts: a reader's follows change less often than their votes
    _lifts: OrderedDict[tuple[Follow, ...], tuple[np.ndarray, dict]] = field(
        default_factory=OrderedDict
    )

    def __len__(self) -> int:
        return len(self.papers)

    @property
    def ids(self) -> list[str]:
        return self.candidates.ids

    def rows_with(self, kind: str) -> dict[str, list[int]]:
        """Rows by author key ("author"), organization, category (primary first, archives
        too: "category") and stemmed word ("word", made on first use)."""
        if self._lookups is None:
            self._lookups = _lookups(self.papers)
        if kind == "word" and "word" not in self._lookups:
            words: dict[str, list[int]] = {}
            for row, paper in enumerate(self.papers):
                for term in set(lexical.analyze(f"{paper.title} {paper.abstract}")):
                    words.setdefault(term, []).append(row)
            self._lookups["word"] = words
        return self._lookups[kind]

    def lifts(self, followed: list[Follow]) -> tuple[np.ndarray, dict[int, tuple[float, str]]]:
        """What these follows lift, per row, and the largest lift's reason (kept per follows)."""
        key = tuple(followed)
        found = self._lifts.get(key)
        if found is None:
            found = self._lifts[key] = _follow_lifts(followed, self)
            while len(self._lifts) > _CACHED_LIFTS:
                self._lifts.popitem(last=False)
        return found


def _lookups(papers: Sequence[PoolPaper]) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = {"author": {}, "organization": {}, "category": {}}
    for row, paper in enumerate(papers):
        for key in {key for key, _name in paper.authors}:
            found["author"].setdefault(key, []).append(row)
        for name in paper.organizations:
            found["organization"].setdefault(name, []).append(row)
        seen: set[str] = set()
        for category in paper.categories:
            for key in (category, category.split(".")[0]):
                if key not in seen:
                    seen.add(key)
                    found["category"].setdefault(key, []).append(row)
    return found


@dataclass(frozen=True)
class Ranked:
    """A candidate's place: its row in the pool and final score; `reason` says why."""

    row: int
    score: float
    explain: Callable[[int], str] = field(repr=False, compare=False)

    @property
    def reason(self) -> str:
        return self.explain(self.row)


class Ranking(Sequence[Ranked]):
    """A pool's rows best first with their scores; a `Ranked` is made only for what is read
    (a page reads 50 of a month's thousands)."""

    def __init__(self, rows: np.ndarray, scores: np.ndarray, explain: Callable[[int], str]):
        self.rows = rows
        self.scores = scores
        self.explain = explain

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> Ranked: ...

    @overload
    def __getitem__(self, index: slice) -> list[Ranked]: ...

    def __getitem__(self, index: int | slice) -> Ranked | list[Ranked]:
        if isinstance(index, slice):
            return [self._ranked(int(row)) for row in self.rows[index]]
        return self._ranked(int(self.rows[index]))

    def _ranked(self, row: int) -> Ranked:
        return Ranked(row, float(self.scores[row]), self.explain)


def _trending_reason(_row: int) -> str:
    return "trending"


def load_profiles(session: Session, user_ids: Sequence[int]) -> dict[int, Profile]:
    """The profiles of these readers (two queries per 500 of them)."""
    ids = sorted(set(user_ids))
    profiles = {user_id: Profile(user_id) for user_id in ids}
    liked: dict[int, dict[str, datetime]] = {user_id: {} for user_id in ids}
    disliked: dict[int, dict[str, datetime]] = {user_id: {} for user_id in ids}
    for start in range(0, len(ids), 500):  # one query for the four: round trips add up
        chunk = ids[start : start + 500]
        upvotes = select(
            _LIKED.label("kind"), UpvoteRow.user_id, UpvoteRow.paper_id, UpvoteRow.created_at
        ).where(UpvoteRow.user_id.in_(chunk))
        saved = (
            select(_LIKED, CollectionRow.user_id, CollectionPaperRow.paper_id,
                   CollectionPaperRow.added_at)
            .join(CollectionRow, CollectionRow.id == CollectionPaperRow.collection_id)
            .where(CollectionRow.user_id.in_(chunk))
        )  # fmt: skip
        dismissed = select(
            _DISLIKED, dismissals.DismissalRow.user_id, dismissals.DismissalRow.paper_id,
            dismissals.DismissalRow.created_at,
        ).where(dismissals.DismissalRow.user_id.in_(chunk))  # fmt: skip
        cleared: Select[Any] = select(
            _CLEARED, ReaderStateRow.user_id, literal_column("NULL"), ReaderStateRow.cleared_at
        ).where(ReaderStateRow.user_id.in_(chunk), ReaderStateRow.cleared_at.is_not(None))
        rows: list[Any] = list(session.execute(union_all(upvotes, saved, dismissed, cleared)))
        for kind, user_id, _paper, at in rows:
            if kind == _CLEARED_KIND:
                profiles[user_id].cleared_at = as_utc(at)
        for kind, user_id, paper_id, at in rows:
            if kind == _LIKED_KIND:
                _keep_latest(liked[user_id], paper_id, as_utc(at), profiles[user_id].cleared_at)
            elif kind == _DISLIKED_KIND:
                _keep_latest(disliked[user_id], paper_id, as_utc(at), None)
    for user_id, found in follows.follows_of_many(session, ids).items():
        profiles[user_id].follows = found
    for user_id, profile in profiles.items():
        profile.liked = _newest(liked[user_id], exclude=disliked[user_id])
        profile.disliked = _newest(disliked[user_id], exclude=liked[user_id])
    return profiles


def load_profile(session: Session, user_id: int) -> Profile:
    """One reader's profile."""
    return load_profiles(session, [user_id])[user_id]


class Recommender:
    """Scores periods of papers for readers; one per process, shared by its threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models = tier_models(settings) if settings.search_dense else []
        self._lock = threading.Lock()
        self._space: WordSpace | None = None
        # model -> (vectors counted, their mean, when checked)
        self._centers: dict[str, tuple[int, np.ndarray, float]] = {}
        self._checked = 0.0
        self._pools: OrderedDict[tuple[date, date], tuple[float, Pool]] = OrderedDict()
        self._rows: OrderedDict[str, tuple[str, sp.csr_matrix]] = OrderedDict()
        # (model, paper) -> its stored vector; a changed text gets a new vector only after the
        # embedder re-embeds it, and this cache then keeps the old one until evicted: harmless
        self._vectors_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        # paper -> (when read, (title, abstract), categories) of liked and dismissed papers
        self._texts_cache: OrderedDict[
            str, tuple[float, tuple[str, str], tuple[str, ...]]
        ] = OrderedDict()
        # liked paper -> (when read, what it gives its authors' other papers: rank/related.py)
        self._related_cache: OrderedDict[str, tuple[float, dict[str, float]]] = OrderedDict()
        # (reader, span) -> (pool, profile signature, hour, ranking): a page turned or reloaded
        # with nothing changed is not ranked again; any new signal changes the signature
        self._rankings: OrderedDict[tuple[int, date, date], tuple[Pool, tuple, int, Ranking]] = (
            OrderedDict()
        )

    # --- the word space and the embedding centers ---

    @property
    def space_path(self) -> Path:
        return self.settings.home / "index" / "recommend" / "words.npz"

    def space(self, session: Session) -> WordSpace:
        """The word space of the stored papers: loaded, or counted now if missing or stale."""
        with self._lock:
            now = time.monotonic()
            if self._space is not None and now - self._checked < REFRESH_S:
                return self._space
            self._checked = now
            papers = int(session.scalar(select(func.count()).select_from(PaperRow)) or 0)
            space = self._space or WordSpace.load(self.space_path)
            if space is None or _stale(space.documents, papers):
                space = fit_space(session)
                space.save(self.space_path)
                self._pools.clear()
                self._rows.clear()
            self._space = space
            return space

    def center(self, session: Session, model: str) -> np.ndarray | None:
        """The mean of `model`'s stored vectors, recomputed when their number moved by a tenth
        (checked every REFRESH_S)."""
        known = self._centers.get(model)
        if known is not None and time.monotonic() - known[2] < REFRESH_S:
            return known[1]
        count = int(
            session.scalar(
                select(func.count())
                .select_from(PaperEmbeddingRow)
                .where(PaperEmbeddingRow.model == model)
            )
            or 0
        )
        if known is not None and not _stale(known[0], count):
            self._centers[model] = (known[0], known[1], time.monotonic())
            return known[1]
        if not count:
            return None
        total: np.ndarray | None = None
        for _ids, chunk in vectors_store.iter_vectors(session, model):
            part = chunk.astype(np.float64).sum(axis=0)
            total = part if total is None else total + part
        mean = (total / count).astype(np.float32) if total is not None else None
        if mean is not None:
            self._centers[model] = (count, mean, time.monotonic())
        return mean

    # --- candidates ---

    def pool(
        self, session: Session, first: date, last: date, *, now: datetime | None = None
    ) -> Pool:
        """The papers of a span (featured on its daily lists or announced in it)."""
        span = (first, last)
        with self._lock:
            recent = self._pools.get(span)
            if recent is not None and time.monotonic() - recent[0] < POOL_TTL_S:
                self._pools.move_to_end(span)
                return recent[1]
        ranked, _featured = trending.rank_period(
            session, first, last, now=now, gravity=self.settings.trending_gravity
        )
        ids = [str(r.key) for r in ranked]
        if recent is not None and recent[1].ids == ids:  # the same papers in the same order
            built = recent[1]
        else:
            built = self.pool_of(session, _pool_papers(session, ids))
        with self._lock:
            self._pools[span] = (time.monotonic(), built)
            while len(self._pools) > _CACHED_POOLS:
                self._pools.popitem(last=False)
        return built

    def pool_of(
        self,
        session: Session,
        papers: Sequence[PoolPaper],
        vectors: tuple[str, list[str], np.ndarray] | None = None,
    ) -> Pool:
        """A pool of these papers (best-trending first); `vectors` (model, ids, matrix) saves
        reading them when the caller has them."""
        space = self.space(session)
        ids = [p.id for p in papers]
        words = space.transform([content.paper_words(p.title, p.abstract) for p in papers])
        model: str | None
        if vectors is not None:
            model, found = vectors[0], (vectors[1], vectors[2])
        else:
            model, found = self._vectors(session, ids)
        candidates = Candidates(
            ids, words, categories=[p.categories for p in papers],
            owners=[links.owners(p.abstract) for p in papers],
        )  # fmt: skip
        if model is not None and found[0]:
            matrix, present = _rows_in_order(ids, found[0], found[1])
            candidates.vectors = content.center(matrix, self.center(session, model))
            candidates.has_vector = present
        return Pool(list(papers), candidates, model if candidates.vectors is not None else None)

    def _vectors(
        self, session: Session, ids: list[str]
    ) -> tuple[str | None, tuple[list[str], np.ndarray]]:
        """The stored vectors of `ids` under the model that covers most of them (best on a tie)."""
        best: tuple[str | None, tuple[list[str], np.ndarray]] = (None, ([], np.zeros((0, 0))))
        for model in reversed(self.models):  # best model first
            found = vectors_store.vectors_for(session, model, ids)
            if len(found[0]) > len(best[1][0]):
                best = (model, found)
            if len(found[0]) == len(ids):
                break
        return best

    # --- a reader's taste ---

    def taste(
        self, session: Session, profile: Profile, pool: Pool, *, now: datetime | None = None
    ) -> tuple[Taste, dict[str, str]]:
        """The reader's liked and dismissed papers in the pool's spaces, and the liked titles."""
        now = as_utc(now) if now else utcnow()
        liked = profile.liked[:MAX_LIKED]
        disliked = profile.disliked[:MAX_DISLIKED]
        around = self._related(session, [s.paper_id for s in liked], {*pool.ids, *profile.known})
        texts, fields = self._texts(  # one read and one word-row call for all three
            session, [s.paper_id for s in liked] + [s.paper_id for s in disliked] + around
        )
        liked_ids = [s.paper_id for s in liked if s.paper_id in texts]
        disliked_ids = [s.paper_id for s in disliked if s.paper_id in texts]
        around = [paper_id for paper_id in around if paper_id in texts]
        space = self.space(session)
        rows = self._word_rows(space, liked_ids + disliked_ids + around, texts)
        liked = [s for s in liked if s.paper_id in texts]
        ages = np.asarray([(now - s.at).total_seconds() / 86400 for s in liked])
        taste = Taste(
            liked=liked_ids,
            words=rows[: len(liked_ids)],
            weights=content.recency_weight(ages),
            categories=[fields.get(paper_id, ()) for paper_id in liked_ids],
            owners=[links.owners(texts[paper_id][1]) for paper_id in liked_ids],
        )
        if around:
            taste.related = around
            taste.related_words = rows[len(liked_ids) + len(disliked_ids) :]
            taste.related_owners = frozenset().union(
                *(links.owners(texts[paper_id][1]) for paper_id in around)
            )
        if disliked_ids:
            taste.disliked = disliked_ids
            taste.disliked_words = rows[len(liked_ids) : len(liked_ids) + len(disliked_ids)]
        if pool.model is not None and pool.candidates.vectors is not None:
            center = self.center(session, pool.model)
            taste.vectors = self._vector_rows(session, pool.model, taste.liked, center)
            if disliked_ids:
                taste.disliked_vectors = self._vector_rows(
                    session, pool.model, disliked_ids, center
                )
        return taste, {paper_id: title for paper_id, (title, _abstract) in texts.items()}

    def _texts(
        self, session: Session, ids: list[str]
    ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, ...]]]:
        """(title, abstract) and categories of these papers, read again after POOL_TTL_S (an
        edited paper counts as edited within a minute, as a pool's candidates do)."""
        texts: dict[str, tuple[str, str]] = {}
        fields: dict[str, tuple[str, ...]] = {}
        fresh = time.monotonic() - POOL_TTL_S
        with self._lock:
            for paper_id in ids:
                kept = self._texts_cache.get(paper_id)
                if kept is not None and kept[0] >= fresh:
                    texts[paper_id], fields[paper_id] = kept[1], kept[2]
        missing = [paper_id for paper_id in ids if paper_id not in texts]
        if missing:
            read, categories = _texts(session, missing)
            now = time.monotonic()
            with self._lock:
                for paper_id, text in read.items():
                    self._texts_cache[paper_id] = (now, text, categories[paper_id])
                    self._texts_cache.move_to_end(paper_id)
                while len(self._texts_cache) > _CACHED_ROWS:
                    self._texts_cache.popitem(last=False)
            texts.update(read)
            fields.update(categories)
        return texts, fields

    def _related(self, session: Session, liked: list[str], exclude: set[str]) -> list[str]:
        """Other papers of the liked papers' authors (rank/related.py), outside `exclude`."""
        recent = liked[: related.FROM_LIKED]  # the profile lists them newest first
        given = self.related_given(session, recent)
        return related.choose((given[paper_id] for paper_id in recent), exclude)

    def related_given(self, session: Session, liked: Sequence[str]) -> dict[str, dict[str, float]]:
        """What each liked paper gives its authors' other papers, kept RELATED_TTL_S: a new
        upvote reads one paper's, and the digest reads all its readers' at once."""
        given: dict[str, dict[str, float]] = {}
        fresh = time.monotonic() - RELATED_TTL_S
        with self._lock:
            for paper_id in liked:
                kept = self._related_cache.get(paper_id)
                if kept is not None and kept[0] >= fresh:
                    given[paper_id] = kept[1]
        missing = list(dict.fromkeys(paper_id for paper_id in liked if paper_id not in given))
        if missing:
            read = _contributions(session, missing)
            now = time.monotonic()
            with self._lock:
                for paper_id, made in read.items():
                    self._related_cache[paper_id] = (now, made)
                    self._related_cache.move_to_end(paper_id)
                while len(self._related_cache) > _CACHED_ROWS:
                    self._related_cache.popitem(last=False)
            given.update(read)
        return given

    def _word_rows(
        self, space: WordSpace, ids: list[str], texts: dict[str, tuple[str, str]]
    ) -> sp.csr_matrix:
        rows: list[sp.csr_matrix | None] = []
        missing: list[int] = []
        with self._lock:
            for index, paper_id in enumerate(ids):
                text = content.paper_words(*texts[paper_id])
                cached = self._rows.get(paper_id)
                if cached is not None and cached[0] == text:
                    self._rows.move_to_end(paper_id)
                    rows.append(cached[1])
                else:
                    rows.append(None)
                    missing.append(index)
        if missing:
            made = space.transform([content.paper_words(*texts[ids[i]]) for i in missing])
            with self._lock:
                for offset, index in enumerate(missing):
                    row = made[offset]
                    rows[index] = row
                    self._rows[ids[index]] = (content.paper_words(*texts[ids[index]]), row)
                while len(self._rows) > _CACHED_ROWS:
                    self._rows.popitem(last=False)
        return _stack_rows([row for row in rows if row is not None])

    def _vector_rows(
        self, session: Session, model: str, ids: list[str], center: np.ndarray | None
    ) -> np.ndarray | None:
        """Centered vectors of these papers (zero rows for those without), cached by paper."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for paper_id in ids:
                cached = self._vectors_cache.get((model, paper_id))
                if cached is not None:
                    found[paper_id] = cached
        missing = [paper_id for paper_id in ids if paper_id not in found]
        if missing:
            read_ids, matrix = vectors_store.vectors_for(session, model, missing)
            with self._lock:
                for paper_id, vector in zip(read_ids, matrix, strict=True):
                    found[paper_id] = self._vectors_cache[(model, paper_id)] = vector
                while len(self._vectors_cache) > _CACHED_ROWS:
                    self._vectors_cache.popitem(last=False)
        if not found:
            return None
        present = [paper_id for paper_id in ids if paper_id in found]
        ordered, _present = _rows_in_order(ids, present, np.stack([found[i] for i in present]))
        return content.center(ordered, center)

    # --- ranking ---

    def rank(
        self, profile: Profile, pool: Pool, taste: Taste, titles: dict[str, str]
    ) -> Ranking:
        """The pool's papers for this reader, best first, without those they already judged."""
        n = len(pool)
        prior = TRENDING_WEIGHT * (1 - np.arange(n) / max(n - 1, 1))
        known = profile.known
        keep = np.fromiter((p.id not in known for p in pool.papers), dtype=bool, count=n)
        if profile.cold:  # the trending order, less what the reader dismissed
            return Ranking(np.flatnonzero(keep), prior, _trending_reason)
        with _one_blas_thread():  # products this small gain nothing from threads but contention
            scored = content.score(pool.candidates, taste)
        lifts, lift_reasons = pool.lifts(profile.follows)
        totals = scored.scores + lifts + prior

        def explain(row: int) -> str:
            return _reason(row, scored, lifts, lift_reasons, taste, titles)

        order = np.argsort(-totals, kind="stable")
        return Ranking(order[keep[order]], totals, explain)

    def recommend(
        self,
        session: Session,
        user_id: int,
        first: date,
        last: date,
        *,
        page: int = 1,
        page_size: int = 50,
        now: datetime | None = None,
    ) -> RecommendationPage:
        """One page of the reader's recommendations among the papers from `first` to `last`."""
        span_of(first, last)
        profile = load_profile(session, user_id)
        pool = self.pool(session, first, last, now=now)
        ranked = self._ranking(session, profile, pool, (first, last), now)
        window = ranked[(page - 1) * page_size : page * page_size]
        papers, listings = reader.papers_listed_in(
            session, [pool.papers[r.row].id for r in window], first, last
        )
        items = [
            Recommendation(papers[pool.papers[r.row].id], r.score, r.reason,
                           listings.get(pool.papers[r.row].id))
            for r in window
            if pool.papers[r.row].id in papers
        ]  # fmt: skip
        return RecommendationPage(first, last, items, len(ranked), page, page_size, profile.cold)


    def _ranking(
        self,
        session: Session,
        profile: Profile,
        pool: Pool,
        span: tuple[date, date],
        now: datetime | None,
    ) -> Ranking:
        """The reader's ranking of the pool, reused while the pool, the reader's signals and the
        hour (recency weights move slowly) stay the same."""
        key = (profile.user_id, *span)
        signature = profile.signature
        hour = int((as_utc(now) if now else utcnow()).timestamp() // 3600)
        with self._lock:
            cached = self._rankings.get(key)
            if cached is not None and cached[0] is pool and cached[1:3] == (signature, hour):
                self._rankings.move_to_end(key)
                return cached[3]
        taste, titles = self.taste(session, profile, pool, now=now)
        ranked = self.rank(profile, pool, taste, titles)
        with self._lock:
            self._rankings[key] = (pool, signature, hour, ranked)
            while len(self._rankings) > _CACHED_RANKINGS:
                self._rankings.popitem(last=False)
        return ranked


def fit_space(session: Session) -> WordSpace:
    """Count the word space over every stored paper (streamed)."""
    query = select(PaperRow.title, PaperRow.abstract).execution_options(yield_per=5000)
    return WordSpace.fit(content.paper_words(t, a or "") for t, a in session.execute(query))


def pool_papers_of(papers: Sequence[Paper]) -> list[PoolPaper]:
    """Pool entries of loaded papers (the digest has them at hand)."""
    return [
        PoolPaper(
            paper.arxiv_id, paper.title, paper.abstract,
            tuple(c.lower() for c in paper.categories), _org_names(paper),
            tuple((normalize_name(a.name), a.name) for a in paper.authors),
        )
        for paper in papers
    ]  # fmt: skip


def span_of(first: date, last: date) -> tuple[date, date]:
    """The span checked as `recommend` checks it (raises InvalidSpan)."""
    if last < first:
        raise InvalidSpan("'to' is before 'from'")
    if (last - first).days >= MAX_SPAN_DAYS:
        raise InvalidSpan(f"ask for at most {MAX_SPAN_DAYS} days at once")
    return first, last


def _follow_lifts(followed: list[Follow], pool: Pool) -> tuple[np.ndarray, dict[int, tuple]]:
    """Per candidate: the lift of the follows it matches, and (lift, reason) of the largest
    one for the candidates that match any."""
    lifts = np.zeros(len(pool))
    reasons: dict[int, tuple[float, str]] = {}
    if not followed:
        return lifts, reasons

    def lift(rows: Sequence[int], amount: float, reason: str) -> None:
        for row in rows:
            lifts[row] += amount
            if row not in reasons or amount > reasons[row][0]:
                reasons[row] = (amount, reason)

    by = {kind: pool.rows_with(kind) for kind in ("author", "organization", "category")}
    for follow in followed:
        if follow.kind == "author":
            for row in by["author"].get(follow.key, ()):
                name = _name_in(pool, row, follow.key)
                lift([row], FOLLOW_LIFTS["author"], f"by an author you follow ({name})")
        elif follow.kind == "organization":
            rows = by["organization"].get(follow.key, [])
            reason = f"from an organization you follow ({follow.label})"
            lift(rows, FOLLOW_LIFTS["organization"], reason)
        elif follow.kind == "category":
            rows = by["category"].get(follow.key, [])
            primary = [r for r in rows if _primary_matches(pool.papers[r], follow.key)]
            others = sorted(set(rows) - set(primary))
            reason = f"in a category you follow ({follow.label})"
            lift(primary, FOLLOW_LIFTS["category"], reason)
            lift(others, CROSS_LIST_LIFT, reason)
        elif follow.kind == "search":
            terms = set(lexical.analyze(follow.label))
            if not terms:
                continue
            words = pool.rows_with("word")
            matching = set.intersection(*(set(words.get(term, ())) for term in terms))
            lift(sorted(matching), FOLLOW_LIFTS["search"], f"matches your search «{follow.label}»")
    return lifts, reasons


def _primary_matches(paper: PoolPaper, key: str) -> bool:
    primary = paper.categories[0] if paper.categories else ""
    return key in (primary, primary.split(".")[0])


def _name_in(pool: Pool, row: int, key: str) -> str:
    return next((name for k, name in pool.papers[row].authors if k == key), key)


def _reason(
    row: int,
    scored: content.ContentScores,
    lifts: np.ndarray,
    lift_reasons: dict[int, tuple[float, str]],
    taste: Taste,
    titles: dict[str, str],
) -> str:
    """The strongest reason a candidate is where it is."""
    follow = lift_reasons.get(row)
    liked = None
    if not taste.empty:
        link = scored.linked.get(row)
        index = link[1] if link is not None and link[1] is not None else scored.closest[row]
        title = _shortened(titles.get(taste.liked[index], ""))
        why = f"like «{title}»"
        if link is not None:
            where = links.shown(link[0])
            why = f"links to {where}, as «{title}» does" if link[1] is not None else (
                f"links to {where}, as other papers by authors of papers you liked do"
            )
        liked = (float(scored.scores[row]), why)
    if follow is not None and (liked is None or follow[0] >= liked[0]):
        return follow[1]
    if liked is not None:
        return liked[1]
    return "trending"


def _shortened(title: str) -> str:
    title = " ".join(title.split())
    if len(title) > TITLE_IN_REASON:
        title = title[: TITLE_IN_REASON - 1].rstrip() + "…"
    return title


def _pool_papers(session: Session, ids: list[str]) -> list[PoolPaper]:
    """Pool entries of stored papers, in the order of `ids` (a few lean queries)."""
    rows: dict[str, tuple] = {}
    authors: dict[str, list[tuple[str, str]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.categories,
                   OrganizationRow.name, OrganizationRow.fullname)
            .outerjoin(OrganizationRow, OrganizationRow.id == PaperRow.organization_id)
            .where(PaperRow.id.in_(chunk))
        )  # fmt: skip
        rows.update({row[0]: tuple(row) for row in session.execute(query)})
        names = (
            select(PaperAuthorRow.paper_id, AuthorRow.name_key, PaperAuthorRow.name)
            .join(AuthorRow, AuthorRow.id == PaperAuthorRow.author_id)
            .where(PaperAuthorRow.paper_id.in_(chunk))
        )
        for paper_id, key, name in session.execute(names):
            authors.setdefault(paper_id, []).append((key, name))
    found = []
    for paper_id in ids:
        if paper_id not in rows:
            continue
        _id, title, abstract, categories, org, org_full = rows[paper_id]
        orgs = frozenset(n.casefold() for n in (org, org_full) if n)
        cats = tuple(c.lower() for c in (categories or "").split())
        found.append(
            PoolPaper(paper_id, title, abstract or "", cats, orgs, tuple(authors.get(paper_id, [])))
        )
    return found


def _contributions(session: Session, ids: list[str]) -> dict[str, dict[str, float]]:
    """What each of these liked papers gives its authors' other papers (two queries a 500; a
    join grouped by the database took twice as long on SQLite)."""
    authors = _links(session, PaperAuthorRow.paper_id, PaperAuthorRow.author_id, ids)
    wanted = sorted(
        {a for found in authors.values() if len(found) <= related.MAX_AUTHORS for a in found}
    )
    papers_of = _links(session, PaperAuthorRow.author_id, PaperAuthorRow.paper_id, wanted)
    return {
        paper_id: related.contributions(found, papers_of.__getitem__, paper_id)
        for paper_id, found in authors.items()
    }


def _links(session: Session, key: Any, value: Any, keys: list) -> dict[Any, set]:
    """The paper-author links of `keys`, as {key: its values} (one query a 500 keys)."""
    found: dict[Any, set] = {k: set() for k in keys}
    for start in range(0, len(keys), 500):
        query = select(key, value).where(key.in_(keys[start : start + 500]))
        for k, v in session.execute(query):
            found[k].add(v)
    return found


def _texts(
    session: Session, ids: list[str]
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, ...]]]:
    """(title, abstract) and the lower-cased categories of these papers."""
    found: dict[str, tuple[str, str]] = {}
    fields: dict[str, tuple[str, ...]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 500):
        query = select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.categories).where(
            PaperRow.id.in_(unique[start : start + 500])
        )
        for paper_id, title, abstract, categories in session.execute(query):
            found[paper_id] = (title, abstract or "")
            fields[paper_id] = tuple(c.lower() for c in (categories or "").split())
    return found, fields


def _stack_rows(rows: list[sp.csr_matrix]) -> sp.csr_matrix:
    """One-row matrices stacked into one (scipy's vstack costs ~30 us a row in checks)."""
    if not rows:
        return sp.csr_matrix((0, content.WORD_FEATURES), dtype=np.float32)
    lengths = np.fromiter((row.nnz for row in rows), dtype=np.int64, count=len(rows))
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    data = np.concatenate([row.data for row in rows]).astype(np.float32, copy=False)
    indices = np.concatenate([row.indices for row in rows])
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), content.WORD_FEATURES))


def _rows_in_order(
    ids: list[str], found_ids: list[str], matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A matrix with a row per id of `ids` (zeros where there is no vector), and which have one."""
    where = {paper_id: row for row, paper_id in enumerate(found_ids)}
    out = np.zeros((len(ids), matrix.shape[1]), dtype=np.float32)
    present = np.zeros(len(ids), dtype=bool)
    for index, paper_id in enumerate(ids):
        row = where.get(paper_id)
        if row is not None:
            out[index] = matrix[row]
            present[index] = True
    return out, present


def _org_names(paper: Paper) -> frozenset[str]:
    if paper.organization is None:
        return frozenset()
    names = (paper.organization.name, paper.organization.fullname)
    return frozenset(n.casefold() for n in names if n)


def _keep_latest(
    found: dict[str, datetime], paper_id: str, at: datetime, cleared: datetime | None
) -> None:
    if cleared is not None and at <= cleared:
        return
    if paper_id not in found or at > found[paper_id]:
        found[paper_id] = at


def _newest(found: dict[str, datetime], exclude: dict[str, datetime] | None = None) -> list[Signal]:
    """Signals newest first; a paper liked and dismissed counts as what the reader said last."""
    signals = [
        Signal(paper_id, at)
        for paper_id, at in found.items()
        if exclude is None or paper_id not in exclude or exclude[paper_id] < at
    ]
    return sorted(signals, key=lambda s: (s.at, s.paper_id), reverse=True)


_CONTROLLER: ThreadpoolController | None = None


def _one_blas_thread():
    """A context that runs BLAS on one thread (the controller scans the libraries only once)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _stale(counted: int, now: int) -> bool:
    return abs(now - counted) > STALE_SHARE * max(counted, 1)

