"""The eval metrics and the CSFCube loader, on small hand-made rankings and the real collection."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA

from paperfeed.evals import csfcube, metrics


def test_metrics() -> None:
    grades = {"a": 3, "b": 0, "c": 1}

    assert metrics.ndcg(["a", "c", "b"], grades) == pytest.approx(1.0)
    assert metrics.ndcg(["b", "c", "a"], grades) < metrics.ndcg(["a", "b", "c"], grades)
    assert metrics.average_precision(["x", "a", "y", "c"], {"a", "c"}) == pytest.approx(
        (1 / 2 + 2 / 4) / 2
    )
    assert metrics.average_precision(["x"], set()) == 0.0


def test_csfcube_loader_follows_the_collection() -> None:
    corpus, queries = csfcube.load(SHARED_DATA / "csfcube")

    assert len(queries) == 50
    assert {q.facet for q in queries} == {"background", "method", "result"}
    assert sum(len(q.grades) for q in queries) == 6244 - 2  # two pools list their query paper
    for query in queries:
        assert query.paper.id not in query.pool
        assert all(d in corpus for d in query.pool)
