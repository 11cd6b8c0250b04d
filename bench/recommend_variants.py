"""Paired comparisons of content-score variants on the author-history protocol, fast.

    python bench/recommend_variants.py --cutoff 2025-09-01 --seed 31 --readers 300 \
        [--home DIR] [--snapshot FILE] [--variants a,b,...] [--history N]

Builds what `paperfeed eval recommend` builds for paperfeed (the same readers, word space,
centered static vectors, the saved papers' authors' other papers; evals/recommend.py) once,
then scores every reader with `rank.content.score` ("base", the command's "paperfeed" figure)
and with each variant, and prints each variant's mean nDCG@20 and recall@20 with its paired
difference from "base" (same readers) and that difference's standard error. The SVM is left
out (it takes seconds a reader). Variants recombine the score's parts (word, vector, field and
related soft maxima, their cosines) or add a view computed here; see VARIANTS.
`--history N` keeps only each reader's latest N saved papers (small histories).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from paperfeed.evals import recommend as protocol
from paperfeed.evals.harness import VectorCache
from paperfeed.rank import content, related
from paperfeed.rank.content import Candidates, Taste, WordSpace
from paperfeed.search.embedding import load_embedder, paper_text
from paperfeed.settings import Settings

SNAPSHOT = Path("/work/shared/data/arxiv-cs/arxiv_cs_2025-03_2026-07.jsonl.gz")


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


def build(home: Path, snapshot: Path, cutoff: date, count: int, seed: int, history: int) -> Setup:
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
    needed = protocol.needed_rows(before, candidate_ids, sampled, row_of, seed)
    embedded = [paper_text(records[corpus[r]].title, records[corpus[r]].abstract) for r in needed]
    raw = np.zeros((len(corpus), embedder.dim), dtype=np.float32)
    raw[needed] = cache.vectors(embedded)
    sample = [r for r in needed if r < len(before)]
    centered = content.center(raw, raw[sample].mean(axis=0))
    candidate_rows = np.asarray([row_of[i] for i in candidate_ids])
    candidates = Candidates(
        ids=[records[i].id for i in candidate_ids],
        words=words[candidate_rows],
        vectors=centered[candidate_rows],
        has_vector=np.ones(len(candidate_ids), dtype=bool),
        categories=[records[i].categories for i in candidate_ids],
    )
    by_author: dict[str, list[str]] = defaultdict(list)
    for i in before:
        for name in set(records[i].authors):
            by_author[name].append(records[i].id)
    row_of_id = {records[i].id: row for i, row in row_of.items()}
    candidate_set = {records[i].id for i in candidate_ids}
    index_of_id = {records[i].id: i for i in corpus}

    def taste(reader: protocol.Reader) -> Taste:
        rows = [row_of[i] for i in reader.history]
        ages = [(cutoff - records[i].day).days for i in reader.history]
        made = Taste(
            liked=[records[i].id for i in reader.history],
            words=words[rows],
            weights=content.recency_weight(np.asarray(ages)),
            vectors=centered[rows],
            categories=[records[i].categories for i in reader.history],
        )
        given = [
            related.contributions(set(records[i].authors), by_author.__getitem__, records[i].id)
            for i in reader.history[-related.FROM_LIKED :]
        ]
        made.related = related.choose(given, candidate_set | set(made.liked))
        if made.related:
            made.related_words = words[[row_of_id[paper_id] for paper_id in made.related]]
        return made

    titles = space.transform([records[i].title for i in candidate_ids])

    def title_of(ids: list[str]) -> sp.csr_matrix:
        return space.transform([records[index_of_id[i]].title for i in ids])

    bm25, query_of = _bm25(space, [texts[r] for r in candidate_rows],
                           lambda ids: [texts[row_of[index_of_id[i]]] for i in ids])  # fmt: skip
    return Setup(
        records, candidate_ids, candidates, sampled, taste,
        {i: position for position, i in enumerate(candidate_ids)}, space, titles, title_of,
        bm25, query_of,
    )  # fmt: skip


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
    "clus3_0.3": lambda p: combine(p, extra=0.3, extra_view=cluster_view(p, 3)),
    "clus2_0.3": lambda p: combine(p, extra=0.3, extra_view=cluster_view(p, 2)),
    "clus3_0.6": lambda p: combine(p, extra=0.6, extra_view=cluster_view(p, 3)),
    "clus3_1.0": lambda p: combine(p, extra=1.0, extra_view=cluster_view(p, 3)),
    "clus4_0.6": lambda p: combine(p, extra=0.6, extra_view=cluster_view(p, 4)),
    "cat1.5": lambda p: combine(p, cat=1.5),
    "titlefull0.6": lambda p: combine(p, extra=0.6, extra_view=title_view(p, full=True)),
    "bm25t0.02_1.0": lambda p: combine(p, extra=1.0, extra_view=bm25_view(p, 0.02)),
    "bm25t0.01_0.5": lambda p: combine(p, extra=0.5, extra_view=bm25_view(p, 0.01)),
}


def ndcg(scores: np.ndarray, relevant: set[int]) -> tuple[float, float]:
    order = np.argsort(-scores, kind="stable")[:20]
    hits = [int(i) in relevant for i in order]
    dcg = sum(1 / math.log2(k + 2) for k, hit in enumerate(hits) if hit)
    ideal = sum(1 / math.log2(k + 2) for k in range(min(20, len(relevant))))
    return dcg / ideal, sum(hits) / len(relevant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--home", type=Path, default=Path("/tmp/h11s22home"))
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    started = time.perf_counter()
    setup = build(args.home, args.snapshot, date.fromisoformat(args.cutoff), args.readers,
                  args.seed, args.history)  # fmt: skip
    print(f"built in {time.perf_counter() - started:.0f} s: {len(setup.sampled)} readers, "
          f"{len(setup.candidate_ids)} candidates", file=sys.stderr)  # fmt: skip
    names = ["base", *args.variants.split(",")]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    small: list[bool] = []
    for reader in setup.sampled:
        p = parts(setup, reader)
        relevant = {setup.index_of[i] for i in reader.relevant}
        small.append(len(reader.history) < protocol.HISTORY)
        for name in names:
            results[name].append(ndcg(p["base"] if name == "base" else VARIANTS[name](p), relevant))
    base = np.asarray([n for n, _r in results["base"]])
    few = np.asarray(small)
    print(f"{args.cutoff} seed {args.seed} readers {len(base)} (of them {few.sum()} with < 20 "
          f"saved) history {args.history or 'all'}")  # fmt: skip
    for name in names:
        values = np.asarray(results[name])
        diff = values[:, 0] - base
        se = diff.std(ddof=1) / math.sqrt(len(diff))
        small_diff = diff[few].mean() if few.any() else float("nan")
        print(f"{name:16s} nDCG@20 {values[:, 0].mean():.4f} R@20 {values[:, 1].mean():.4f} "
              f"diff {diff.mean():+.4f} ± {se:.4f}  (<20 saved: {small_diff:+.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
