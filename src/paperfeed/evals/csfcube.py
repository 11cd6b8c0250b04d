"""CSFCube: similar-paper ranking on 50 faceted query papers with graded candidate pools.

Each query is a paper's title and abstract (the facet is not given to the rankers); its judged
pool is ranked, the query paper left out. Figures are means over all 50 queries, with each
facet's mean under "facets"; MAP counts grades 2 and 3 as relevant, as CSFCube does.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.evals import baselines
from paperfeed.evals.harness import (
    METHODS,
    Doc,
    EvalCorpus,
    EvalDataMissing,
    VectorCache,
    caches,
    complete,
)
from paperfeed.evals.metrics import Ranking, average_precision, mean, ndcg
from paperfeed.search import lexical
from paperfeed.search.fusion import DEFAULT, Fusion
from paperfeed.settings import Settings

RELEVANT = 2  # grades 2 and 3 count as relevant for MAP (0-3 scale)


@dataclass
class CsfcubeQuery:
    id: str
    facet: str
    paper: Doc
    pool: list[str]
    grades: dict[str, int]


def load(directory: Path) -> tuple[dict[str, Doc], list[CsfcubeQuery]]:
    """The corpus and the 50 faceted queries with their judged pools (query paper left out)."""
    files = [directory / n for n in ("corpus.jsonl", "queries.jsonl", "qrels_test.tsv")]
    for path in files:
        if not path.is_file():
            raise EvalDataMissing(f"CSFCube file not found: {path}")
    corpus = {}
    for line in files[0].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        corpus[record["_id"]] = Doc(record["_id"], record["title"], record["text"])
    judged: dict[str, dict[str, int]] = {}
    with files[2].open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            judged.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = []
    for line in files[1].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        grades = {
            d: g
            for d, g in judged.get(record["_id"], {}).items()
            if d != record["query_paper_id"] and d in corpus
        }
        paper = Doc(record["query_paper_id"], record["title"], record["text"])
        queries.append(CsfcubeQuery(record["_id"], record["facet"], paper, list(grades), grades))
    return corpus, queries


def rank(
    corpus: dict[str, Doc],
    queries: list[CsfcubeQuery],
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress: ProgressSink | None = None,
) -> dict[str, dict[str, Ranking]]:
    """method -> query id -> the query's whole pool, ranked as the site ranks similar papers."""
    pool_ids = sorted({d for q in queries for d in q.pool})
    docs = [corpus[d] for d in pool_ids]
    query_vectors: dict[str, np.ndarray] = {}
    matrix = None
    if cache is not None:
        texts = [d.text for d in docs] + [q.paper.text for q in queries]
        everything = cache.vectors(texts, progress)
        matrix = everything[: len(docs)]
        query_vectors = {q.id: everything[len(docs) + i] for i, q in enumerate(queries)}
    index = EvalCorpus(docs, matrix, cache.embedder.name if cache else "")
    out: dict[str, dict[str, Ranking]] = {m: {} for m in METHODS}
    for query in queries:
        ranked = index.rankings(
            lexical.similar_query(query.paper.paper()),
            query_vectors.get(query.id),
            depth=len(query.pool),
            fusion=fusion,
            within=query.pool,
        )
        for method, ranking in ranked.items():
            out[method][query.id] = ranking if method == "dense" else complete(ranking, query.pool)
    return {m: r for m, r in out.items() if r}


def score(queries: Sequence[CsfcubeQuery], rankings: dict[str, dict[str, Ranking]]) -> dict:
    """nDCG@10 and MAP per method, overall and per facet."""
    result: dict[str, Any] = {}
    for method, by_query in rankings.items():
        per_facet: dict[str, list[tuple[float, float]]] = {}
        for query in queries:
            ranking = by_query[query.id]
            relevant = {d for d, g in query.grades.items() if g >= RELEVANT}
            pair = (ndcg(ranking, query.grades, 10), average_precision(ranking, relevant))
            per_facet.setdefault(query.facet, []).append(pair)
        everything = [p for pairs in per_facet.values() for p in pairs]
        result[method] = _means(everything)
        result[method]["facets"] = {f: _means(p) for f, p in sorted(per_facet.items())}
    return result


def run(
    settings: Settings,
    directory: Path,
    kinds: Sequence[str],
    progress: ProgressSink | None = None,
) -> dict:
    """`paperfeed eval similar`: BM25, then dense and hybrid for each embedding model in `kinds`.

    The first model's figures are "dense" and "hybrid"; others are "dense-<kind>", "hybrid-<kind>".
    """
    corpus, queries = load(directory)
    stock = baselines.StockBM25([corpus[d] for d in sorted({d for q in queries for d in q.pool})])
    stock_rankings = {
        q.id: complete(stock.rank(_query_text(q.paper), len(q.pool), within=q.pool), q.pool)
        for q in queries
    }
    result = score(queries, {"bm25-stock": stock_rankings})
    result.update(score(queries, rank(corpus, queries, None)))
    for position, (kind, cache) in enumerate(caches(settings, kinds)):
        ranked = rank(corpus, queries, cache, progress=progress)
        suffix = "" if position == 0 else f"-{kind}"
        picked = {f"dense{suffix}": ranked["dense"], f"hybrid{suffix}": ranked["hybrid"]}
        picked[f"rrf{suffix}"] = {
            q.id: baselines.rrf(stock_rankings[q.id], ranked["dense"][q.id]) for q in queries
        }
        result.update(score(queries, picked))
    return result


def _query_text(paper: Doc) -> str:
    return f"{paper.title} {paper.abstract}"


def _means(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "ndcg@10": mean([p[0] for p in pairs]),
        "map": mean([p[1] for p in pairs]),
        "queries": len(pairs),
    }
