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

    "weighted": lexical_weight * BM25 / best BM25 + dense_weight * cosine, over the candidates
    of both; keeps how far ahead a result is, which RRF throws away (a title match scoring 5x
    the next paper stays first, and a weak best vector match stays weak).
    "rrf": sum of weight / (k + rank) over the rankings.
    """

    method: Literal["weighted", "rrf"] = "weighted"
    lexical_weight: float = 0.3
    dense_weight: float = 0.7
    k: float = 60.0
    depth: int = 100  # how many results each ranking contributes
    runaway: float | None = 2.0  # a BM25 best scoring this many times the second stays first


DEFAULT = Fusion()


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
        fused = _rrf(lexical, dense[: fusion.depth], fusion, has_vector)
    else:
        fused = _weighted(lexical, dense, fusion, has_vector)
    if fusion.runaway and len(lexical) > 1 and lexical[0][1] >= fusion.runaway * lexical[1][1]:
        # One paper matches the words far better than any other (a system's name, a rare term):
        # that is the paper the user means, whatever the vectors say.
        winner = lexical[0][0]
        fused = [item for item in fused if item[0] == winner] + [
            item for item in fused if item[0] != winner
        ]
    return fused


def _weighted(
    lexical: Scored, dense: Scored, fusion: Fusion, has_vector: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    best = max((score for _, score in lexical), default=0.0)
    top = dense[: fusion.depth]
    # A paper with no vector yet scores as the last of the dense top would: no bonus, no burial.
    missing = fusion.dense_weight * max(top[-1][1], 0.0) if top else 0.0
    if best > 0:
        for paper_id, score in lexical:
            scores[paper_id] = fusion.lexical_weight * score / best
            if has_vector is not None and not has_vector(paper_id):
                scores[paper_id] += missing
    wanted = set(scores) | {paper_id for paper_id, _ in top}
    for paper_id, score in dense:
        if paper_id in wanted:  # cosine as it is: a weak best match stays weak
            scores[paper_id] = scores.get(paper_id, 0.0) + fusion.dense_weight * max(score, 0.0)
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
