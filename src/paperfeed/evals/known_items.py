"""Known-item search on stored papers: can a query written about a paper find that paper?

The corpus is a fixed random sample of stored papers that Hugging Face summarized; each query
is one of them's AI summary (a one-sentence paraphrase) or AI keywords, written by someone other
than the authors, and only that paper counts as relevant.

The site indexes those AI summaries and keywords too (search.lexical); here the corpus is indexed
from titles and abstracts alone, or each query would find the very words it was taken from.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.core.progress import ProgressSink
from paperfeed.evals import baselines
from paperfeed.evals.harness import METHODS, Doc, EvalCorpus, EvalDataMissing, VectorCache, caches
from paperfeed.evals.metrics import Ranking, mean
from paperfeed.search import lexical
from paperfeed.search.fusion import DEFAULT, Fusion
from paperfeed.search.service import route
from paperfeed.settings import Settings
from paperfeed.store.models import PaperRow


@dataclass
class KnownItemQuery:
    style: str  # "summary" or "keywords"
    text: str
    target: str


def build(
    session: Session, corpus_size: int, queries_per_style: int, seed: int = 7
) -> tuple[list[Doc], list[KnownItemQuery]]:
    """A corpus of stored papers that Hugging Face summarized, and queries naming one of them."""
    rows = session.execute(
        select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.ai_summary,
               PaperRow.ai_keywords)
        .where(PaperRow.ai_summary.is_not(None))
        .order_by(PaperRow.id)
    ).all()  # fmt: skip
    rows = [r for r in rows if r.abstract and r.ai_summary and r.ai_keywords]
    rng = random.Random(seed)
    rng.shuffle(rows)
    rows = rows[:corpus_size]
    # without ai_summary and ai_keywords: they are the queries (see the module's docstring)
    corpus = [Doc(r.id, r.title, r.abstract) for r in rows]
    targets = rows[: min(queries_per_style, len(rows))]
    queries = [KnownItemQuery("summary", r.ai_summary, r.id) for r in targets]
    queries += [KnownItemQuery("keywords", ", ".join(r.ai_keywords), r.id) for r in targets]
    return corpus, queries


def rank(
    corpus: list[Doc],
    queries: list[KnownItemQuery],
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress: ProgressSink | None = None,
) -> dict[str, list[Ranking]]:
    """method -> one ranking per query, as the site's search ranks."""
    matrix = query_matrix = None
    if cache is not None:
        matrix = cache.vectors([d.text for d in corpus], progress)
        query_matrix = cache.queries([q.text for q in queries])
    index = EvalCorpus(corpus, matrix, cache.embedder.name if cache else "")
    out: dict[str, list[Ranking]] = {m: [] for m in METHODS}
    for i, query in enumerate(queries):
        text_query, _terms = lexical.text_query(query.text)
        vector = query_matrix[i] if query_matrix is not None else None
        routed, feedback = route(query.text, fusion)  # as the site's search routes it
        for method, ranking in index.rankings(
            text_query, vector, depth=fusion.depth, fusion=routed, feedback=feedback
        ).items():
            out[method].append(ranking)
    return {m: r for m, r in out.items() if r}


def score(queries: Sequence[KnownItemQuery], rankings: dict[str, list[Ranking]]) -> dict:
    """MRR@10 (= MAP@10 with one relevant paper), nDCG@10 and recall@10, per method and style."""
    result: dict[str, Any] = {}
    for method, ranked in rankings.items():
        per_style: dict[str, list[tuple[float, float, float]]] = {}
        for query, ranking in zip(queries, ranked, strict=True):
            top = ranking[:10]
            position = top.index(query.target) + 1 if query.target in top else None
            triple = (
                1 / math.log2(position + 1) if position else 0.0,
                1 / position if position else 0.0,
                1.0 if position else 0.0,
            )
            per_style.setdefault(query.style, []).append(triple)
        everything = [t for triples in per_style.values() for t in triples]
        result[method] = _means(everything)
        result[method]["styles"] = {s: _means(t) for s, t in sorted(per_style.items())}
    return result


def run(
    settings: Settings,
    session: Session,
    kinds: Sequence[str],
    corpus_size: int,
    queries_per_style: int,
    progress: ProgressSink | None = None,
) -> dict:
    """`paperfeed eval queries`: known-item search, figures named like csfcube.run's."""
    corpus, queries = build(session, corpus_size, queries_per_style)
    if not corpus:
        raise EvalDataMissing("no stored papers with Hugging Face summaries: import hf-daily first")
    stock = baselines.StockBM25(corpus)
    stock_rankings = [stock.rank(q.text, DEFAULT.depth) for q in queries]
    result: dict[str, Any] = score(queries, {"bm25-stock": stock_rankings})
    result.update(score(queries, rank(corpus, queries, None)))
    for position, (kind, cache) in enumerate(caches(settings, kinds)):
        ranked = rank(corpus, queries, cache, progress=progress)
        suffix = "" if position == 0 else f"-{kind}"
        picked = {f"dense{suffix}": ranked["dense"], f"hybrid{suffix}": ranked["hybrid"]}
        picked[f"rrf{suffix}"] = [
            baselines.rrf(s, d) for s, d in zip(stock_rankings, ranked["dense"], strict=True)
        ]
        result.update(score(queries, picked))
    result["corpus"] = len(corpus)
    result["note"] = (
        "corpus indexed without Hugging Face's AI summaries and keywords (they are the queries)"
    )
    return result


def _means(triples: list[tuple[float, float, float]]) -> dict[str, Any]:
    return {
        "ndcg@10": mean([t[0] for t in triples]),
        "map": mean([t[1] for t in triples]),  # MRR@10: one relevant paper per query
        "recall@10": mean([t[2] for t in triples]),
        "queries": len(triples),
    }
