"""What a reader's papers say about the papers of a period: word and embedding similarity.

A reader's taste is a few papers they liked (upvoted, saved), each weighted by how recent the
signal is (half-life HALF_LIFE_DAYS), and a few they marked "not interested". A candidate is
scored by how close it comes to the liked papers, in two spaces:

- words: hashed tf-idf of title and abstract, unigrams and bigrams, idf squared (IDF_POWER) so
  rare terms (a method's name, a data set) weigh more, terms in more than MAX_DF of all papers
  (on a small site: half, or MIN_MAX_DF papers) or in a single one dropped, term counts
  saturated as BM25 does (BM25_K1, and BM25_B for the paper's length in distinct terms against
  the corpus mean), rows of unit length (WordSpace);
- meaning: the stored paper embeddings, centered on the corpus mean (the static model's vectors
  share a large common direction that otherwise drowns the differences) and renormalized.

In each space the closeness to the liked papers is a soft maximum, log sum_i w_i exp(s_i / tau):
near one liked paper counts almost as much as near all of them, so a reader of two topics gets
both, where a centroid would average them away. Both are standardized (z-scores) over the
candidates the reader has not liked (a liked paper among them is near itself) and added, words
first (EMBEDDING_WEIGHT), with the reader's fields: the share of liked papers in each of a
candidate's arXiv categories, averaged (CATEGORY_WEIGHT); closeness to dismissed papers, by the
same soft maximum, is subtracted where it is above the candidates' average (NEGATIVE_WEIGHT),
and closeness in words to the liked papers' authors' other papers (rank/related.py), by the
same soft maximum and standardized, is added at RELATED_WEIGHT (their embeddings are not read).
A candidate whose abstract links to the code or page of an owner that a liked paper's abstract
links to (the same github.com/<owner>, <owner>.github.io, huggingface.co/<owner> or lab site:
rank/links.py) is lifted by LINK_LIFT: about 4 in 10 such candidates were the reader's own in
the eval, far above anything else the score finds, so they go first; one linking to an owner
that only the liked papers' authors' other papers link to, by RELATED_LINK_LIFT.
Every step is a sparse or dense matrix product over at most a few thousand rows, and each liked
or dismissed paper's column of cosines is kept per pool (Candidates.closeness,
vector_closeness): after one more upvote a reader's scores cost one new column, so a vote
changes the next page at once.
The weights were chosen on `paperfeed eval recommend` (README: Recommendations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

WORD_FEATURES = 1 << 21  # hashed unigram and bigram buckets (few collisions at 75k papers)
IDF_POWER = 2.0
BM25_K1 = 1.2  # a term's weight saturates with its count (BM25), the more so in long papers
BM25_B = 0.75
MAX_DF = 0.1  # terms in more than this share of papers carry no taste...
MIN_MAX_DF = 500  # ...but on a small site, terms of up to this many papers (or half) still do
WORD_TAU = 0.1  # soft-maximum temperatures: cosines of tf-idf rows, of centered embeddings
VECTOR_TAU = 0.05
EMBEDDING_WEIGHT = 0.5
CATEGORY_WEIGHT = 0.5
NEGATIVE_WEIGHT = 0.5
RELATED_WEIGHT = 0.3  # closeness to the liked papers' authors' other papers (rank/related.py)
LINK_LIFT = 12.0  # links to the code or page of an owner a liked paper links to (rank/links.py)
RELATED_LINK_LIFT = 4.0  # ...that only the liked papers' authors' other papers link to
HALF_LIFE_DAYS = 180.0
_CLOSE_FLOATS = 1 << 22  # cached cosines per pool (16 MB): a week has more rows than a month
_TOKEN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"


def paper_words(title: str, abstract: str) -> str:
    """The text a paper's word row is made from."""
    return f"{title} {abstract}"


def recency_weight(age_days: float | np.ndarray) -> np.ndarray:
    """How much a signal of this age counts: 1 now, 1/2 after HALF_LIFE_DAYS, and so on."""
    return np.power(0.5, np.maximum(np.asarray(age_days, dtype=np.float64), 0) / HALF_LIFE_DAYS)


class WordSpace:
    """Hashed 1-2-gram tf-idf rows of papers, with document frequencies counted on a corpus."""

    def __init__(self, df: np.ndarray, documents: int) -> None:
        self.df = df
        self.documents = documents
        idf = np.log((1 + documents) / (1 + df.astype(np.float64))) + 1
        most = max(MAX_DF * documents, min(0.5 * documents, MIN_MAX_DF))
        keep = (df >= 2) & (df <= most)
        self.weights = np.where(keep, idf**IDF_POWER, 0.0).astype(np.float32)
        # distinct terms of a paper on average: the document frequencies add up to that
        self.mean_terms = max(float(df.sum(dtype=np.int64)) / max(documents, 1), 1.0)

    @classmethod
    def fit(cls, texts: Iterable[str], chunk: int = 5000) -> WordSpace:
        """Count document frequencies over `texts` (streamed in chunks)."""
        df = np.zeros(WORD_FEATURES, dtype=np.int64)
        documents = 0
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == chunk:
                documents += _count(df, batch)
                batch = []
        if batch:
            documents += _count(df, batch)
        return cls(df.astype(np.int32), documents)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Unit-length tf-idf rows (float32), one per text; a text of no kept term is all zero."""
        if not len(texts):
            return sp.csr_matrix((0, WORD_FEATURES), dtype=np.float32)
        counts = sp.csr_matrix(_hasher().transform(texts), dtype=np.float32)
        terms = np.diff(counts.indptr)
        length = np.repeat((terms / self.mean_terms).astype(np.float32), terms)
        saturated = counts.data * (BM25_K1 + 1) / (
            counts.data + BM25_K1 * (1 - BM25_B + BM25_B * length)
        )
        data = saturated * self.weights[counts.indices]
        # unit rows with plain array work: scipy's diagonal product costs ~1 ms a call
        row = np.repeat(np.arange(len(texts)), terms)
        norms = np.sqrt(np.bincount(row, weights=np.square(data, dtype=np.float64),
                                    minlength=len(texts)))  # fmt: skip
        data /= np.maximum(norms, 1e-12).astype(np.float32)[row]
        rows = sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
        rows.eliminate_zeros()
        return rows

    def save(self, path: Path) -> None:
        """Write the frequencies to `path` (.npz) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.stem + ".partial.npz")
        np.savez_compressed(partial, df=self.df, documents=np.int64(self.documents))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> WordSpace | None:
        """The frequencies saved at `path`, or None where there are none or they are unreadable."""
        try:
            saved = np.load(path)
            return cls(saved["df"], int(saved["documents"]))
        except (OSError, KeyError, ValueError):
            return None


@dataclass
class Candidates:
    """The papers one can be recommended, in both spaces: rows in `ids` order."""

    ids: list[str]
    words: sp.csr_matrix
    vectors: np.ndarray | None = None  # centered, unit length; zero rows for papers without one
    has_vector: np.ndarray | None = None  # bool per row
    categories: list[tuple[str, ...]] | None = None  # per row, as the taste writes them
    owners: list[frozenset[str]] | None = None  # per row, its abstract's link owners (rank/links)
    _by_owner: dict[str, list[int]] | None = None
    _by_term: sp.csr_matrix | None = None
    _categories: tuple[dict[str, int], sp.csr_matrix] | None = None
    _close: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # cached columns
    _rows: dict[str, int] | None = None  # id -> row

    def __len__(self) -> int:
        return len(self.ids)

    def closeness(self, rows: sp.csr_matrix, keys: Sequence[str] | None = None) -> np.ndarray:
        """Cosines of every candidate (rows of the result) to each of `rows` (columns).

        The candidates' matrix is kept transposed (terms by papers) after the first call, so
        the product is row-major on both sides and needs no conversion of the 2M-term axis.
        With `keys` (a paper id per row) each row's cosines are kept, bounded, for the next
        call: a reader's next page after one more upvote computes one row, not all of them.
        """
        if self._by_term is None:
            self._by_term = sp.csr_matrix(self.words.T)
        by_term = self._by_term
        if keys is None:
            return (rows @ by_term).toarray().T
        wanted = [(key, _row_digest(rows, index)) for index, key in enumerate(keys)]
        return self._columns(wanted, lambda missing: (rows[missing] @ by_term).toarray())

    def vector_closeness(
        self, vectors: np.ndarray, keys: Sequence[str] | None = None
    ) -> np.ndarray:
        """Dot products of every candidate's vector with each of `vectors` (columns), kept per
        key and vector like `closeness` (an empty array where the candidates have no vectors)."""
        if self.vectors is None:
            return np.zeros((len(self), 0), dtype=np.float32)
        mine = self.vectors
        if keys is None:
            return mine @ vectors.T
        wanted = [(f"v:{key}", hash(vectors[index].tobytes())) for index, key in enumerate(keys)]
        return self._columns(wanted, lambda missing: vectors[missing] @ mine.T)

    def _columns(
        self, wanted: list[tuple[str, int]], compute: Callable[[list[int]], np.ndarray]
    ) -> np.ndarray:
        """A column per wanted key: kept ones reused, the others computed (`compute` gets their
        positions and returns a row per position) and kept, the oldest evicted first."""
        found = {key: row for key in wanted if (row := self._close.get(key)) is not None}
        missing = [index for index, key in enumerate(wanted) if key not in found]
        if missing:  # threads share a pool: each works from its own `found`, the cache may race
            made = np.asarray(compute(missing), dtype=np.float32)
            limit = max(1, _CLOSE_FLOATS // max(len(self), 1))
            for offset, index in enumerate(missing):
                found[wanted[index]] = self._close[wanted[index]] = made[offset]
            for oldest in list(self._close)[: max(0, len(self._close) - limit)]:
                self._close.pop(oldest, None)
        if not wanted:
            return np.zeros((len(self), 0), dtype=np.float32)
        return np.stack([found[key] for key in wanted], axis=1)

    def not_liked(self, taste: Taste) -> np.ndarray:
        """Per row: whether the reader has not liked this candidate."""
        if self._rows is None:
            self._rows = {paper_id: row for row, paper_id in enumerate(self.ids)}
        among = np.ones(len(self), dtype=bool)
        for paper_id in taste.liked:
            row = self._rows.get(paper_id)
            if row is not None:
                among[row] = False
        return among

    def rows_linking(self, owner: str) -> list[int]:
        """The rows whose abstracts link to this owner (an index made once per pool)."""
        if self._by_owner is None:
            by_owner: dict[str, list[int]] = {}
            for row, found in enumerate(self.owners or []):
                for name in found:
                    by_owner.setdefault(name, []).append(row)
            self._by_owner = by_owner
        return self._by_owner.get(owner, [])

    def category_matrix(self) -> tuple[dict[str, int], sp.csr_matrix]:
        """The categories' columns, and per candidate 1/len(its categories) in each of its own
        (made once per pool), so a taste's category shares score every candidate in one product."""
        if self._categories is None:
            vocabulary: dict[str, int] = {}
            rows: list[int] = []
            columns: list[int] = []
            values: list[float] = []
            for row, categories in enumerate(self.categories or []):
                for category in categories:
                    rows.append(row)
                    columns.append(vocabulary.setdefault(category, len(vocabulary)))
                    values.append(1 / len(categories))
            shape = (len(self.ids), max(len(vocabulary), 1))
            self._categories = (vocabulary, sp.csr_matrix((values, (rows, columns)), shape=shape))
        return self._categories


@dataclass
class Taste:
    """A reader's liked papers (with recency weights) and dismissed ones, in both spaces."""

    liked: list[str]
    words: sp.csr_matrix
    weights: np.ndarray
    vectors: np.ndarray | None = None  # same rows as `words`; zero rows lack a vector
    disliked_words: sp.csr_matrix | None = None
    disliked_vectors: np.ndarray | None = None
    categories: list[tuple[str, ...]] | None = None  # of the liked papers, in `liked` order
    disliked: list[str] | None = None  # ids of the rows of `disliked_words`: their cosines are kept
    related: list[str] | None = None  # other papers of the liked papers' authors (rank/related)
    related_words: sp.csr_matrix | None = None  # their word rows (words only: see score)
    owners: list[frozenset[str]] | None = None  # the liked papers' link owners, `liked` order
    related_owners: frozenset[str] | None = None  # link owners of the `related` papers

    @property
    def empty(self) -> bool:
        return not self.liked


@dataclass(frozen=True)
class ContentScores:
    """Each candidate's content score (z units) and which liked paper it is closest to."""

    scores: np.ndarray
    closest: np.ndarray  # index into Taste.liked, per candidate
    # candidate row -> (link owner, index into Taste.liked) where LINK_LIFT was added, or
    # (owner, None) where RELATED_LINK_LIFT was (an owner of the related papers' links only)
    linked: dict[int, tuple[str, int | None]] = field(default_factory=dict)


def _row_digest(rows: sp.csr_matrix, index: int) -> int:
    """A short fingerprint of one sparse row: a cached row is reused only for the same words."""
    start, end = rows.indptr[index], rows.indptr[index + 1]
    return hash((rows.indices[start:end].tobytes(), rows.data[start:end].tobytes()))


def center(vectors: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
    """Vectors minus the corpus mean, back to unit length (zero rows stay zero)."""
    if mean is None or not len(vectors):
        return np.asarray(vectors, dtype=np.float32)
    shifted = np.asarray(vectors, dtype=np.float32) - mean.astype(np.float32)
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    present = np.linalg.norm(vectors, axis=1, keepdims=True) > 0
    return np.where(present, shifted / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def score(candidates: Candidates, taste: Taste) -> ContentScores:
    """How well each candidate fits the taste (0 for every one when nothing is liked)."""
    n = len(candidates)
    if taste.empty or not n:
        return ContentScores(np.zeros(n), np.zeros(n, dtype=np.int64))
    log_weights = np.log(np.maximum(taste.weights, 1e-12))
    among = candidates.not_liked(taste)
    word_sims = candidates.closeness(taste.words, taste.liked) / WORD_TAU + log_weights
    total = _standard(_soft_max(word_sims), among)
    closest_by = word_sims
    vector_sims = _vector_sims(candidates, taste.vectors, taste.liked)
    if vector_sims is not None:
        vector_sims = vector_sims / VECTOR_TAU + log_weights
        meaning = _soft_max(vector_sims)
        meaning = _neutral_where_missing(meaning, candidates)
        total = total + EMBEDDING_WEIGHT * _standard(meaning, among)
        closest_by = word_sims + EMBEDDING_WEIGHT * vector_sims
    fields = _fields(candidates, taste)
    if fields is not None:
        total = total + CATEGORY_WEIGHT * _standard(fields, among)
    around = _near(candidates, taste.related_words, None, taste.related, among)
    if around is not None:
        total = total + RELATED_WEIGHT * around
    penalty = _near(
        candidates, taste.disliked_words, taste.disliked_vectors, taste.disliked, among
    )
    if penalty is not None:
        total = total - NEGATIVE_WEIGHT * np.maximum(penalty, 0.0)
    linked = _linked(candidates, taste)
    for row, (_owner, index) in linked.items():
        total[row] += LINK_LIFT if index is not None else RELATED_LINK_LIFT
    return ContentScores(total, np.argmax(closest_by, axis=1), linked)


def _linked(candidates: Candidates, taste: Taste) -> dict[int, tuple[str, int | None]]:
    """Candidates linking to an owner a liked paper links to: row -> (owner, the most recent
    such liked paper's index), then to one only the related papers link to: row -> (owner,
    None), among the candidates the reader has not liked."""
    if candidates.owners is None or not (taste.owners or taste.related_owners):
        return {}
    liked_by: dict[str, int | None] = {}
    for index, found in enumerate(taste.owners or []):
        for owner in found:
            known = liked_by.get(owner)
            if known is None or taste.weights[index] > taste.weights[known]:
                liked_by[owner] = index
    for owner in taste.related_owners or ():
        liked_by.setdefault(owner, None)
    mine = set(taste.liked)
    linked: dict[int, tuple[str, int | None]] = {}
    for owner in sorted(liked_by, key=lambda o: (liked_by[o] is None, o)):  # liked first
        for row in candidates.rows_linking(owner):
            if row not in linked and candidates.ids[row] not in mine:
                linked[row] = (owner, liked_by[owner])
    return linked


def _fields(candidates: Candidates, taste: Taste) -> np.ndarray | None:
    """Per candidate: the mean, over its categories, of the share of liked papers in each."""
    if candidates.categories is None or not taste.categories:
        return None
    vocabulary, spread = candidates.category_matrix()
    share = np.zeros(spread.shape[1])
    for categories in taste.categories:
        for category in set(categories):
            column = vocabulary.get(category)
            if column is not None:
                share[column] += 1 / len(taste.categories)
    return np.asarray(spread @ share).ravel()


def _near(
    candidates: Candidates,
    words: sp.csr_matrix | None,
    vectors: np.ndarray | None,
    keys: Sequence[str] | None,
    among: np.ndarray,
) -> np.ndarray | None:
    """Standardized closeness of each candidate to these papers (dismissed ones, or the liked
    papers' authors' other papers) by the same soft maximum, words and half the embeddings'
    (None without any); `keys` name the rows, whose cosines are kept."""
    if words is None or not words.shape[0]:
        return None
    near = _standard(_soft_max(candidates.closeness(words, keys) / WORD_TAU), among)
    vector_sims = _vector_sims(candidates, vectors, keys)
    if vector_sims is not None:
        meaning = _neutral_where_missing(_soft_max(vector_sims / VECTOR_TAU), candidates)
        near = near + EMBEDDING_WEIGHT * _standard(meaning, among)
    return near


def _vector_sims(
    candidates: Candidates, vectors: np.ndarray | None, keys: Sequence[str] | None
) -> np.ndarray | None:
    if candidates.vectors is None or vectors is None or not len(vectors):
        return None
    if candidates.vectors.shape[1] != vectors.shape[1] or not np.any(vectors):
        return None
    return candidates.vector_closeness(vectors, keys)


def _neutral_where_missing(values: np.ndarray, candidates: Candidates) -> np.ndarray:
    """Candidates without a vector get the others' mean: neither lifted nor lowered."""
    present = candidates.has_vector
    if present is None or present.all() or not present.any():
        return values
    out = values.copy()
    out[~present] = values[present].mean()
    return out


def _soft_max(logits: np.ndarray) -> np.ndarray:
    """log sum exp over each row, computed stably."""
    top = logits.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))).ravel()


def _standard(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """z-scores, with the mean and spread of the rows `among` (the candidates not liked: a
    liked paper in the pool is near itself, and would squeeze everyone else's scores)."""
    sample = values[among] if among.any() else values
    spread = float(sample.std())
    if spread < 1e-9:
        return np.zeros_like(values, dtype=np.float64)
    return (values - sample.mean()) / spread


def _count(df: np.ndarray, texts: list[str]) -> int:
    present = _hasher().transform(texts).tocsr()
    df += np.bincount(present.indices, minlength=WORD_FEATURES)
    return len(texts)


_HASHER = None


def _hasher():
    """The scikit-learn hashing vectorizer, made once (its import takes a while)."""
    global _HASHER
    if _HASHER is None:
        from sklearn.feature_extraction.text import HashingVectorizer

        _HASHER = HashingVectorizer(
            n_features=WORD_FEATURES, strip_accents="unicode", lowercase=True,
            stop_words="english", token_pattern=_TOKEN, ngram_range=(1, 2),
            alternate_sign=False, norm=None, dtype=np.float32,
        )  # fmt: skip
    return _HASHER
