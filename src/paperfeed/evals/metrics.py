"""Ranking metrics: nDCG@k with graded relevance, average precision, reciprocal rank, means."""

from __future__ import annotations

import math
from collections.abc import Sequence

Ranking = list[str]


def ndcg(ranking: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (the grade), ideal ordering from all judged documents."""
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best > 0 else 0.0


def average_precision(ranking: Sequence[str], relevant: set[str]) -> float:
    """Mean of the precision at each relevant document's rank, over all relevant documents."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranking):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean, rounded to 4 places (0.0 for nothing)."""
    return round(sum(values) / max(len(values), 1), 4)
