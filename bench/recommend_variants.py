"""Paired comparisons of content-score variants on the author-history protocol, fast.

    python bench/recommend_variants.py --cutoff 2025-09-01 --seed 31 --readers 300 \
        [--home DIR] [--snapshot FILE] [--variants a,b,...] [--history N]

Builds what `paperfeed eval recommend` builds for paperfeed (the same readers, word space,
centered static vectors, the saved papers' authors' other papers; evals/recommend.py) once,
then scores every reader with `rank.content.score` ("base", the command's "paperfeed" figure)
and with each variant, and prints each variant's mean nDCG@20 and recall@20 with its paired
difference from "base" (same readers) and that difference's standard error. The SVM is left
out (it takes seconds a reader). Variants recombine the score's parts (word, vector, field and
related soft maxima, their cosines) or add a view computed here; see VARIANTS. "nolink" is
the score without the link lifts (rank/links.py); the "link..." variants add their own lift to it.
`--history N` keeps only each reader's latest N saved papers (small histories). Where the
data folder holds the command's `--cache-svm` scores for this cutoff, seed and sample size,
paperfeed's nDCG@20 and the SVM's are printed by the number of saved papers (5-9, 10-19, 20).
Vectors come from (and go to) the data folder's eval cache, as the command's do.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from paperfeed.evals import recommend as protocol
from paperfeed.evals.harness import VectorCache
from paperfeed.rank import content, links
from paperfeed.rank.content import Candidates, Taste, WordSpace
from paperfeed.search.embedding import load_embedder
from paperfeed.settings import Settings

SNAPSHOT = Path("../shared/data/arxiv-cs/arxiv_cs_2025-03_2026-07.jsonl.gz")


@dataclass
class Setup:
    """One cutoff's candidates, readers and the eval's tastes, as the command makes them."""

    records: list[protocol.Record]
    candidate_ids: list[int]
    candidates: Candidates
    sampled: list[protocol.Reader]
    taste: Callable[[protocol.Reader], Taste]
    index_of: dict[int, int]
    space: WordSpace
    titles: sp.csr_matrix  # candidates' title-only word rows
    title_of: Callable[[list[str]], sp.csr_matrix]  # title rows of liked paper ids
    bm25: sp.csr_matrix  # candidates' BM25 term weights (terms by candidates, csr)
    query_of: Callable[[list[str]], sp.csr_matrix]  # liked papers' query rows (idf of terms)
    style: Callable[[list[str]], sp.csr_matrix] | None = None  # liked papers' phrase rows
    style_candidates: sp.csr_matrix | None = None
    owners: list[set[str]] = field(default_factory=list)  # candidates' link owners (rank/links)
    owners_of: Callable[[list[str]], list[set[str]]] | None = None  # of liked paper ids
    owner_df: dict[str, int] = field(default_factory=dict)  # papers before the cutoff per owner
    names: list[set[str]] = field(default_factory=list)  # candidates' coined names (_coined)
    names_of: Callable[[list[str]], list[set[str]]] | None = None  # of liked paper ids
    name_df: dict[str, int] = field(default_factory=dict)  # papers before the cutoff per name
    _pool: dict[float, tuple[np.ndarray, sp.csr_matrix]] = field(default_factory=dict)

    def _pooled(self, power: float) -> tuple[np.ndarray, sp.csr_matrix]:
        if power not in self._pool:
            words = self.candidates.words
            df = np.bincount(words.indices, minlength=words.shape[1])
            n = words.shape[0]
            factor = ((np.log((1 + n) / (1 + df)) + 1) / (np.log(1 + n) + 1)) ** power
            factor = factor.astype(np.float32)
            self._pool[power] = (factor, _rescaled(words, factor))
        return self._pool[power]

    def pool_factor(self, power: float) -> np.ndarray:
        return self._pooled(power)[0]

    def pool_rows(self, power: float) -> sp.csr_matrix:
        return self._pooled(power)[1]


def build(
    home: Path, snapshot: Path, cutoff: date, count: int, seed: int, history: int,
    style: bool = False,
) -> Setup:
    """The eval's state for paperfeed at `cutoff` (evals/recommend.py `run`, without the SVM)."""
    settings = Settings(home=home)
    records = protocol.read_snapshot(snapshot)
    before, candidate_ids, sampled = protocol.readers(records, cutoff, count, seed=seed)
    if history:
        for reader in sampled:
            reader.history = reader.history[-history:]
    corpus = before + candidate_ids
    row_of = {index: row for row, index in enumerate(corpus)}
    texts = [content.paper_words(records[i].title, records[i].abstract) for i in corpus]
    space = WordSpace.fit(texts)
    words = space.transform(texts)
    embedder = load_embedder(settings, "static", "cpu")
    cache = VectorCache(settings.home / "cache" / "eval", embedder)
    _raw, centered = protocol.corpus_vectors(cache, records, before, candidate_ids, sampled, seed)
    candidate_rows = np.asarray([row_of[i] for i in candidate_ids])
    candidates = protocol.candidates_of(records, candidate_ids, words, centered, candidate_rows)
    by_author = protocol.authors_before(records, before)
    candidate_set = {records[i].id for i in candidate_ids}
    index_of_id = {records[i].id: i for i in corpus}
    taste = protocol.Tastes(
        records, corpus, row_of, words, centered, cutoff, by_author, candidate_set
    ).taste

    titles = space.transform([records[i].title for i in candidate_ids])

    def title_of(ids: list[str]) -> sp.csr_matrix:
        return space.transform([records[index_of_id[i]].title for i in ids])

    bm25, query_of = _bm25(space, [texts[r] for r in candidate_rows],
                           lambda ids: [texts[row_of[index_of_id[i]]] for i in ids])  # fmt: skip
    made = Setup(
        records, candidate_ids, candidates, sampled, taste,
        {i: position for position, i in enumerate(candidate_ids)}, space, titles, title_of,
        bm25, query_of,
    )  # fmt: skip
    linked = {i: links.owners(records[i].abstract) for i in corpus}
    made.owners = [linked[i] for i in candidate_ids]
    made.owners_of = lambda ids: [linked[index_of_id[i]] for i in ids]
    for i in before:
        for owner in linked[i]:
            made.owner_df[owner] = made.owner_df.get(owner, 0) + 1
    coined = {i: _coined(f"{records[i].title} {records[i].abstract}") for i in corpus}
    made.names = [coined[i] for i in candidate_ids]
    made.names_of = lambda ids: [coined[index_of_id[i]] for i in ids]
    for i in before:
        for name in coined[i]:
            made.name_df[name] = made.name_df.get(name, 0) + 1
    if style:
        phrases = _style_space(texts)
        made.style_candidates = phrases([texts[r] for r in candidate_rows])
        made.style = lambda ids: phrases([texts[row_of[index_of_id[i]]] for i in ids])
    return made


_NAME = re.compile(r"(?<![\w/.-])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w/-])")


def _coined(text: str) -> set[str]:
    """Names an author coins (a method, data set or benchmark): CamelCase or capitals inside a
    word ("GlobustVP", "ArcherCodeR", "Prost-RL", "LLaMA"), lower-cased; plain words, words
    capitalized at their start only and numbers are not names."""
    found = set()
    for match in _NAME.finditer(text):
        token = match.group(0)
        inner_capital = any(c.isupper() for c in token[1:])
        if len(token) >= 3 and inner_capital and any(c.isalpha() for c in token):
            found.add(token.lower())
    return found


def _style_space(texts: list[str]) -> Callable[[list[str]], sp.csr_matrix]:
    """How a paper is written: hashed 2-3 grams holding a stop word ("to this end", "we show
    that"), idf-weighted, counted on `texts`; a function of texts to unit rows."""
    import re

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer

    token = re.compile(r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b")

    def analyzer(text: str) -> list[str]:
        words = token.findall(text.lower())
        grams = []
        for n in (2, 3):
            for start in range(len(words) - n + 1):
                gram = words[start : start + n]
                if any(w in ENGLISH_STOP_WORDS for w in gram) and not all(
                    w in ENGLISH_STOP_WORDS for w in gram
                ):
                    grams.append(" ".join(gram))
        return grams

    hasher = HashingVectorizer(n_features=1 << 20, analyzer=analyzer, alternate_sign=False,
                               norm=None, dtype=np.float32)  # fmt: skip
    present = sp.csr_matrix(hasher.transform(texts))
    df = np.bincount(present.indices, minlength=1 << 20)
    n = len(texts)
    idf = np.log((1 + n) / (1 + df)) + 1
    weights = np.where((df >= 2) & (df <= 0.1 * n), idf, 0.0).astype(np.float32)

    def rows(chunk: list[str]) -> sp.csr_matrix:
        counts = sp.csr_matrix(hasher.transform(chunk), dtype=np.float32)
        counts.data = (np.log1p(counts.data) * weights[counts.indices]).astype(np.float32)
        counts.eliminate_zeros()
        return _rescaled(counts, np.ones(1 << 20, dtype=np.float32))

    return rows


BM25_K1, BM25_B = 1.2, 0.75


def _bm25(space: WordSpace, texts: list[str], texts_of: Callable[[list[str]], list[str]]):
    """Okapi BM25 over the candidates (token counts, length in tokens) with the corpus's idf."""
    counts = sp.csr_matrix(content._hasher().transform(texts), dtype=np.float32)
    length = np.asarray(counts.sum(axis=1)).ravel()
    per = np.repeat(length / length.mean(), np.diff(counts.indptr)).astype(np.float32)
    data = counts.data * (BM25_K1 + 1) / (counts.data + BM25_K1 * (1 - BM25_B + BM25_B * per))
    weights = sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
    n = space.documents
    idf = np.log(1 + (n - space.df + 0.5) / (space.df + 0.5)).astype(np.float32)
    most = max(content.MAX_DF * n, min(0.5 * n, content.MIN_MAX_DF))
    idf = np.where((space.df >= 2) & (space.df <= most), idf, 0.0).astype(np.float32)
    by_term = sp.csr_matrix(weights.T)

    def query_of(ids: list[str]) -> sp.csr_matrix:
        present = sp.csr_matrix(content._hasher().transform(texts_of(ids)), dtype=np.float32)
        present.data = idf[present.indices].copy()
        row = np.repeat(np.arange(present.shape[0]), np.diff(present.indptr))
        sums = np.bincount(row, weights=present.data, minlength=present.shape[0])
        present.data = (present.data / np.maximum(sums[row] * (BM25_K1 + 1), 1e-9)).astype(
            np.float32
        )
        return present

    return by_term, query_of


def parts(setup: Setup, reader: protocol.Reader) -> dict[str, Any]:
    """What the variants recombine, for one reader."""
    candidates, taste = setup.candidates, setup.taste(reader)
    among = candidates.not_liked(taste)
    log_w = np.log(np.maximum(taste.weights, 1e-12))
    word_cos = candidates.closeness(taste.words)
    vec_cos = candidates.vector_closeness(taste.vectors)
    fields = content._fields(candidates, taste)
    rel_cos = (
        candidates.closeness(taste.related_words) if taste.related_words is not None else None
    )
    return {
        "setup": setup, "taste": taste, "among": among, "log_w": log_w, "word_cos": word_cos,
        "vec_cos": vec_cos, "fields": fields, "rel_cos": rel_cos,
        "base": content.score(candidates, taste).scores,
    }  # fmt: skip


def _sm(x: np.ndarray) -> np.ndarray:
    return content._soft_max(x)


def z(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    return content._standard(values, among)


def robust(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    sample = values[among]
    middle = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - middle)))
    return (values - middle) / max(spread, 1e-9)


def combine(
    p: dict[str, Any], *, scale: Callable = z, word_tau: float = content.WORD_TAU,
    emb: float = content.EMBEDDING_WEIGHT, cat: float = content.CATEGORY_WEIGHT,
    rel: float = content.RELATED_WEIGHT, clip: float | None = None, extra: float = 0.0,
    extra_view: np.ndarray | None = None,
) -> np.ndarray:
    """The content score from its parts, with these weights and this standardization."""
    among = p["among"]

    def s(values: np.ndarray) -> np.ndarray:
        made = scale(values, among)
        return np.minimum(made, clip) if clip is not None else made

    total = s(_sm(p["word_cos"] / word_tau + p["log_w"]))
    total = total + emb * s(_sm(p["vec_cos"] / content.VECTOR_TAU + p["log_w"]))
    if p["fields"] is not None:
        total = total + cat * s(p["fields"])
    if p["rel_cos"] is not None:
        total = total + rel * s(_sm(p["rel_cos"] / content.WORD_TAU))
    if extra_view is not None:
        total = total + extra * s(extra_view)
    return total


def pool_idf_view(p: dict[str, Any], power: float = 1.0) -> np.ndarray:
    """The word soft max with each term also weighed by its rarity among the period's papers."""
    setup: Setup = p["setup"]
    factor = setup.pool_factor(power)
    liked = _rescaled(p["taste"].words, factor)
    cos = (liked @ setup.pool_rows(power).T).toarray().T
    return _sm(cos / content.WORD_TAU + p["log_w"])


def _rescaled(rows: sp.csr_matrix, factor: np.ndarray) -> sp.csr_matrix:
    """`rows` with each term's weight times `factor`, back to unit length."""
    made = rows.copy()
    made.data = made.data * factor[made.indices]
    row = np.repeat(np.arange(made.shape[0]), np.diff(made.indptr))
    norms = np.sqrt(np.bincount(row, weights=np.square(made.data, dtype=np.float64),
                                minlength=made.shape[0]))  # fmt: skip
    made.data = (made.data / np.maximum(norms, 1e-12)[row]).astype(np.float32)
    return made


def convex(p: dict[str, Any], above: float, gain: float) -> np.ndarray:
    """The score with the word view's z-score above `above` counting (1 + gain) times."""
    among = p["among"]
    word = z(_sm(p["word_cos"] / content.WORD_TAU + p["log_w"]), among)
    return p["base"] + gain * np.maximum(word - above, 0.0)


def combine_word(p: dict[str, Any], word_view: np.ndarray) -> np.ndarray:
    """The score with `word_view` in place of the word soft max."""
    among = p["among"]
    old = z(_sm(p["word_cos"] / content.WORD_TAU + p["log_w"]), among)
    return p["base"] - old + z(word_view, among)


def style_view(p: dict[str, Any], tau: float = 0.1) -> np.ndarray:
    setup: Setup = p["setup"]
    assert setup.style is not None and setup.style_candidates is not None
    cos = (setup.style(p["taste"].liked) @ setup.style_candidates.T).toarray().T
    return _sm(cos / tau + p["log_w"])


def title_view(p: dict[str, Any], tau: float = 0.1, full: bool = False) -> np.ndarray:
    setup: Setup = p["setup"]
    liked = setup.title_of(p["taste"].liked)
    target = setup.candidates.words if full else setup.titles
    cos = (liked @ target.T).toarray().T
    return _sm(cos / tau + p["log_w"])


def bm25_view(p: dict[str, Any], tau: float = 0.05) -> np.ndarray:
    setup: Setup = p["setup"]
    scores = (setup.query_of(p["taste"].liked) @ setup.bm25).toarray().T
    return _sm(scores / tau + p["log_w"])


def cluster_view(p: dict[str, Any], k: int = 3) -> np.ndarray:
    """max over clusters of the cosine to the cluster's centroid (from the cosines alone)."""
    words = p["taste"].words
    gram = (words @ words.T).toarray()
    n = gram.shape[0]
    labels = _cluster(gram, min(k, n))
    best = np.full(p["word_cos"].shape[0], -np.inf)
    for label in set(labels.tolist()):
        members = np.flatnonzero(labels == label)
        norm = math.sqrt(max(gram[np.ix_(members, members)].sum(), 1e-12)) / len(members)
        best = np.maximum(best, p["word_cos"][:, members].mean(axis=1) / norm)
    return best


def _cluster(gram: np.ndarray, k: int) -> np.ndarray:
    """Average-linkage agglomeration on cosine similarity down to k clusters."""
    labels = np.arange(gram.shape[0])
    groups = {i: [i] for i in range(gram.shape[0])}
    while len(groups) > k:
        keys = list(groups)
        best, pair = -np.inf, (keys[0], keys[1])
        for a_pos, a in enumerate(keys):
            for b in keys[a_pos + 1 :]:
                sim = gram[np.ix_(groups[a], groups[b])].mean()
                if sim > best:
                    best, pair = sim, (a, b)
        groups[pair[0]] += groups.pop(pair[1])
    for label, members in groups.items():
        labels[members] = label
    return labels


def link_view(
    p: dict[str, Any], *, most: int | None = None, recency: bool = False, bare: bool = False
) -> np.ndarray:
    """1 where a candidate's abstract links to an owner (rank/links) that a liked paper's links
    to too (owners of more than `most` earlier papers left out; with `recency`, the best such
    liked paper's recency weight instead of 1; with `bare`, github:x, hf:x and gitlab:x are one
    owner x), else 0."""
    setup: Setup = p["setup"]
    assert setup.owners_of is not None
    taste = p["taste"]
    best: dict[str, float] = {}
    def named(found: set[str]) -> set[str]:
        return {o.split(":")[-1] for o in found} if bare else found

    for weight, found in zip(taste.weights, setup.owners_of(taste.liked), strict=True):
        for owner in named(found):
            if most is None or setup.owner_df.get(owner, 0) <= most:
                best[owner] = max(best.get(owner, 0.0), float(weight) if recency else 1.0)
    view = np.zeros(len(setup.owners))
    if best:
        for row, found in enumerate(setup.owners):
            found = named(found)
            if found and not found.isdisjoint(best):
                view[row] = max(best[o] for o in found if o in best)
    return view


def _unlinked(p: dict[str, Any]) -> np.ndarray:
    """The score without LINK_LIFT and RELATED_LINK_LIFT (the link variants add their own)."""
    view = np.zeros(len(p["setup"].owners))
    for row, (_owner, index) in content._linked(p["setup"].candidates, p["taste"]).items():
        view[row] = content.LINK_LIFT if index is not None else content.RELATED_LINK_LIFT
    return p["base"] - view


def related_link_view(p: dict[str, Any]) -> np.ndarray:
    """1 where a candidate links to an owner that one of the liked papers' authors' other papers
    (rank/related.py) links to, and no liked paper does, else 0."""
    setup: Setup = p["setup"]
    assert setup.owners_of is not None
    taste = p["taste"]
    theirs = {o for found in setup.owners_of(taste.related or []) for o in found}
    theirs -= {o for found in setup.owners_of(taste.liked) for o in found}
    return np.asarray([1.0 if not found.isdisjoint(theirs) else 0.0 for found in setup.owners])


def link_feedback_view(p: dict[str, Any], k: int) -> np.ndarray:
    """1 where a candidate links to an owner that one of the `k` best-scored candidates links
    to (those `k` left out), else 0: a lab's other paper of the period beside one found."""
    setup: Setup = p["setup"]
    scores = np.where(p["among"], p["base"], -np.inf)
    top = np.argsort(-scores, kind="stable")[:k]
    theirs = {o for row in top for o in setup.owners[row]}
    view = np.asarray([0.0 if found.isdisjoint(theirs) else 1.0 for found in setup.owners])
    view[top] = 0.0
    return view


def name_view(p: dict[str, Any], most: int) -> np.ndarray:
    """1 where a candidate uses a coined name (_coined) of at most `most` earlier papers that a
    liked paper uses too, else 0."""
    setup: Setup = p["setup"]
    assert setup.names_of is not None
    mine = {n for found in setup.names_of(p["taste"].liked) for n in found
            if setup.name_df.get(n, 0) <= most}  # fmt: skip
    return np.asarray([0.0 if found.isdisjoint(mine) else 1.0 for found in setup.names])


VARIANTS: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {
    "recombined": lambda p: combine(p),
    "robust": lambda p: combine(p, scale=robust),
    "clip4": lambda p: combine(p, clip=4.0),
    "cat0.25": lambda p: combine(p, cat=0.25),
    "cat0.75": lambda p: combine(p, cat=0.75),
    "cat1.0": lambda p: combine(p, cat=1.0),
    "title0.3": lambda p: combine(p, extra=0.3, extra_view=title_view(p)),
    "title0.5": lambda p: combine(p, extra=0.5, extra_view=title_view(p)),
    "titlefull0.3": lambda p: combine(p, extra=0.3, extra_view=title_view(p, full=True)),
    "bm25_0.3": lambda p: combine(p, extra=0.3, extra_view=bm25_view(p)),
    "bm25_0.5": lambda p: combine(p, extra=0.5, extra_view=bm25_view(p)),
    "bm25_1.0": lambda p: combine(p, extra=1.0, extra_view=bm25_view(p)),
    "bm25t0.02_0.5": lambda p: combine(p, extra=0.5, extra_view=bm25_view(p, 0.02)),
    "convex2_0.5": lambda p: convex(p, 2.0, 0.5),
    "convex3_0.5": lambda p: convex(p, 3.0, 0.5),
    "convex3_1.0": lambda p: convex(p, 3.0, 1.0),
    "convex4_1.0": lambda p: convex(p, 4.0, 1.0),
    "poolidf1_replace": lambda p: combine_word(p, pool_idf_view(p, 1.0)),
    "poolidf0.5_replace": lambda p: combine_word(p, pool_idf_view(p, 0.5)),
    "poolidf1_add0.5": lambda p: combine(p, extra=0.5, extra_view=pool_idf_view(p, 1.0)),
    "rel0.5": lambda p: combine(p, rel=0.5),
    "rel0.8": lambda p: combine(p, rel=0.8),
    "relsmall0.6": lambda p: combine(p, rel=0.6 if len(p["taste"].liked) < 10 else 0.3),
    "emb0.3": lambda p: combine(p, emb=0.3),
    "emb0.8": lambda p: combine(p, emb=0.8),
    "embsmall0.8": lambda p: combine(p, emb=0.8 if len(p["taste"].liked) < 10 else 0.5),
    "catsmall0.25": lambda p: combine(p, cat=0.25 if len(p["taste"].liked) < 10 else 0.5),
    "tau0.15": lambda p: combine(p, word_tau=0.15),
    "tau0.07": lambda p: combine(p, word_tau=0.07),
    "style0.2": lambda p: combine(p, extra=0.2, extra_view=style_view(p)),
    "style0.4": lambda p: combine(p, extra=0.4, extra_view=style_view(p)),
    "style0.7": lambda p: combine(p, extra=0.7, extra_view=style_view(p)),
    "style_alone": lambda p: style_view(p),
    "api_prior": lambda p: p["base"] + _newest_prior(p["setup"]),
    "api_prior_uniform": lambda p: combine({**p, "log_w": np.zeros_like(p["log_w"])})
    + _newest_prior(p["setup"]),
    "uniform": lambda p: combine({**p, "log_w": np.zeros_like(p["log_w"])}),
    "clus3_0.3": lambda p: combine(p, extra=0.3, extra_view=cluster_view(p, 3)),
    "clus2_0.3": lambda p: combine(p, extra=0.3, extra_view=cluster_view(p, 2)),
    "clus3_0.6": lambda p: combine(p, extra=0.6, extra_view=cluster_view(p, 3)),
    "clus3_1.0": lambda p: combine(p, extra=1.0, extra_view=cluster_view(p, 3)),
    "clus4_0.6": lambda p: combine(p, extra=0.6, extra_view=cluster_view(p, 4)),
    "cat1.5": lambda p: combine(p, cat=1.5),
    "titlefull0.6": lambda p: combine(p, extra=0.6, extra_view=title_view(p, full=True)),
    "bm25t0.02_1.0": lambda p: combine(p, extra=1.0, extra_view=bm25_view(p, 0.02)),
    "bm25t0.01_0.5": lambda p: combine(p, extra=0.5, extra_view=bm25_view(p, 0.01)),
    "nolink": _unlinked,
    "link0.5": lambda p: _unlinked(p) + 0.5 * link_view(p),
    "link1": lambda p: _unlinked(p) + 1.0 * link_view(p),
    "link2": lambda p: _unlinked(p) + 2.0 * link_view(p),
    "link3": lambda p: _unlinked(p) + 3.0 * link_view(p),
    "link5": lambda p: _unlinked(p) + 5.0 * link_view(p),
    "linkrare20_2": lambda p: _unlinked(p) + 2.0 * link_view(p, most=20),
    "linkrec2": lambda p: _unlinked(p) + 2.0 * link_view(p, recency=True),
    "link8": lambda p: _unlinked(p) + 8.0 * link_view(p),
    "link12": lambda p: _unlinked(p) + 12.0 * link_view(p),
    "link20": lambda p: _unlinked(p) + 20.0 * link_view(p),
    "linkbare8": lambda p: _unlinked(p) + 8.0 * link_view(p, bare=True),
    "linkrare20_8": lambda p: _unlinked(p) + 8.0 * link_view(p, most=20),
    "link10": lambda p: _unlinked(p) + 10.0 * link_view(p),
    "linkrel12_4": lambda p: _unlinked(p) + 12.0 * link_view(p) + 4.0 * related_link_view(p),
    "linkrel12_2": lambda p: _unlinked(p) + 12.0 * link_view(p) + 2.0 * related_link_view(p),
    "linkrel12_8": lambda p: _unlinked(p) + 12.0 * link_view(p) + 8.0 * related_link_view(p),
    "linkrel12_12": lambda p: _unlinked(p) + 12.0 * np.maximum(link_view(p), related_link_view(p)),
    "linkfb3_2": lambda p: p["base"] + 2.0 * link_feedback_view(p, 3),
    "linkfb3_4": lambda p: p["base"] + 4.0 * link_feedback_view(p, 3),
    "linkfb10_2": lambda p: p["base"] + 2.0 * link_feedback_view(p, 10),
    "linkfb1_4": lambda p: p["base"] + 4.0 * link_feedback_view(p, 1),
    "name5_1": lambda p: p["base"] + 1.0 * name_view(p, 5),
    "name5_3": lambda p: p["base"] + 3.0 * name_view(p, 5),
    "name20_1": lambda p: p["base"] + 1.0 * name_view(p, 20),
    "name20_3": lambda p: p["base"] + 3.0 * name_view(p, 20),
    "name100_1": lambda p: p["base"] + 1.0 * name_view(p, 100),
}


def _newest_prior(setup: Setup) -> np.ndarray:
    """What the site adds where no candidate has a vote: TRENDING_WEIGHT (0.2) times the trending
    rank, which is then newest first (day, then id), 0.2 for the newest down to 0."""
    order = sorted(range(len(setup.candidate_ids)), key=lambda row: (
        setup.records[setup.candidate_ids[row]].day, setup.records[setup.candidate_ids[row]].id),
        reverse=True)  # fmt: skip
    prior = np.empty(len(order))
    prior[order] = 0.2 * (1 - np.arange(len(order)) / max(len(order) - 1, 1))
    return prior


def ndcg(scores: np.ndarray, relevant: set[int]) -> tuple[float, float]:
    order = np.argsort(-scores, kind="stable")[:20]
    hits = [int(i) in relevant for i in order]
    dcg = sum(1 / math.log2(k + 2) for k, hit in enumerate(hits) if hit)
    ideal = sum(1 / math.log2(k + 2) for k in range(min(20, len(relevant))))
    return dcg / ideal, sum(hits) / len(relevant)


def _by_history(args: argparse.Namespace, setup: Setup, results: dict[str, list]) -> None:
    """Where the command's cached SVM scores of these readers exist: paperfeed's nDCG@20 and
    the SVM's by the number of saved papers (5-9, 10-19, 20)."""
    stem = args.snapshot.name.split(".")[0]
    name = f"{stem}_{args.cutoff}_4w_seed{args.seed}_{args.readers}.npz"
    path = args.home / "cache" / "eval" / "asl-svm" / name
    if args.history or not path.is_file():
        return
    saved = np.load(path)
    kept = dict(zip(saved["names"].tolist(), saved["scores"], strict=True))
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for position, reader in enumerate(setup.sampled):
        relevant = {setup.index_of[i] for i in reader.relevant}
        size = len(reader.history)
        name = "5-9" if size < 10 else "10-19" if size < 20 else "20"
        pair = (results["base"][position][0], ndcg(kept[reader.name], relevant)[0])
        buckets[name].append(pair)
        buckets["all"].append(pair)
    for name in ("5-9", "10-19", "20", "all"):
        pairs = np.asarray(buckets[name]) if buckets[name] else np.zeros((0, 2))
        if len(pairs):
            ours, svm = pairs[:, 0].mean(), pairs[:, 1].mean()
            print(f"saved {name:5s}: {len(pairs):3d} readers, paperfeed {ours:.4f} "
                  f"SVM {svm:.4f} ratio {ours / max(svm, 1e-9):.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--home", type=Path, default=None,
                        help="data folder (default: PAPERFEED_HOME's); its cache/eval is used")
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    args.home = args.home or Settings().home
    started = time.perf_counter()
    setup = build(args.home, args.snapshot, date.fromisoformat(args.cutoff), args.readers,
                  args.seed, args.history, "style" in args.variants)  # fmt: skip
    print(f"built in {time.perf_counter() - started:.0f} s: {len(setup.sampled)} readers, "
          f"{len(setup.candidate_ids)} candidates", file=sys.stderr)  # fmt: skip
    names = ["base", *args.variants.split(",")]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    small: list[bool] = []
    sizes: list[int] = []
    for reader in setup.sampled:
        p = parts(setup, reader)
        relevant = {setup.index_of[i] for i in reader.relevant}
        small.append(len(reader.history) < protocol.HISTORY)
        sizes.append(len(reader.history))
        for name in names:
            results[name].append(ndcg(p["base"] if name == "base" else VARIANTS[name](p), relevant))
    base = np.asarray([n for n, _r in results["base"]])
    _by_history(args, setup, results)
    few = np.asarray(small)
    print(f"{args.cutoff} seed {args.seed} readers {len(base)} (of them {few.sum()} with < 20 "
          f"saved) history {args.history or 'all'}")  # fmt: skip
    for name in names:
        values = np.asarray(results[name])
        diff = values[:, 0] - base
        se = diff.std(ddof=1) / math.sqrt(len(diff))
        size = np.asarray(sizes)
        parts_ = [diff[(size >= lo) & (size <= hi)] for lo, hi in ((5, 9), (10, 19), (20, 20))]
        by = " ".join(f"{part.mean():+.4f}" if len(part) else "nan" for part in parts_)
        print(f"{name:16s} nDCG@20 {values[:, 0].mean():.4f} R@20 {values[:, 1].mean():.4f} "
              f"diff {diff.mean():+.4f} ± {se:.4f}  (saved 5-9, 10-19, 20: {by})")  # fmt: skip


if __name__ == "__main__":
    main()
