"""Fusing a lexical ranking and a dense ranking into one: a weighted sum, or reciprocal rank fusion.

The default and its weights were chosen on the evals (`paperfeed eval similar`, `paperfeed eval
queries`); the grid and figures are in the README's search section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Scored = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Fusion:
    """How two rankings become one.

    "weighted": lexical_weight * BM25 / best BM25 + dense_weight * min-max scaled cosine, both
    over the candidates; keeps how far ahead a result is, which RRF throws away (a title match
    scoring 5x the next paper stays first).
    "rrf": sum of weight / (k + rank) over the rankings.
    """

    method: Literal["weighted", "rrf"] = "weighted"
    lexical_weight: float = 0.3
    dense_weight: float = 0.7
    k: float = 60.0
    depth: int = 100  # how many results each ranking contributes


DEFAULT = Fusion()
MISSING_VECTOR_GUESS = 0.5


def fuse(
    lexical: Scored,
    dense: Scored,
    fusion: Fusion = DEFAULT,
    has_vector: Callable[[str], bool] | None = None,
) -> list[tuple[str, float]]:
    """One ranking of the ids of both, best first.

    `dense` may score more papers than its top ranks (e.g. the lexical candidates that have a
    vector); it is cut to `depth` by score. While embedding is still under way some papers have
    no vector: `has_vector` names those that do, and a paper without one counts as last on the
    dense side rather than absent, so BM25 still brings it up.
    """
    lexical = sorted(lexical, key=lambda item: item[1], reverse=True)[: fusion.depth]
    dense = sorted(dense, key=lambda item: item[1], reverse=True)
    if fusion.method == "rrf":
        return _rrf(lexical, dense[: fusion.depth], fusion, has_vector)
    return _weighted(lexical, dense, fusion, has_vector)


def _weighted(
    lexical: Scored, dense: Scored, fusion: Fusion, has_vector: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    best = max((score for _, score in lexical), default=0.0)
    if best > 0:
        for paper_id, score in lexical:
            scores[paper_id] = fusion.lexical_weight * score / best
            if has_vector is not None and not has_vector(paper_id):
                # No vector yet: guess half of the dense weight, scaled like its BM25 score.
                scores[paper_id] += fusion.dense_weight * MISSING_VECTOR_GUESS * score / best
    top_dense = list(dense[: fusion.depth])
    wanted = set(scores) | {paper_id for paper_id, _ in top_dense}
    pool = [(p, s) for p, s in dense if p in wanted]
    if pool:
        high = max(s for _, s in pool)
        low = min(s for _, s in pool)
        spread = high - low or 1.0
        for paper_id, score in pool:
            scaled = fusion.dense_weight * (score - low) / spread
            scores[paper_id] = scores.get(paper_id, 0.0) + scaled
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def _rrf(
    lexical: Scored, dense: Scored, fusion: Fusion, has_vector: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for weight, ranking in ((fusion.lexical_weight, lexical), (fusion.dense_weight, dense)):
        for rank, (paper_id, _score) in enumerate(ranking, start=1):
            scores[paper_id] = scores.get(paper_id, 0.0) + weight / (fusion.k + rank)
    if has_vector is not None:
        last = fusion.dense_weight / (fusion.k + fusion.depth)
        for paper_id in scores:
            if not has_vector(paper_id):
                scores[paper_id] += last
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)
