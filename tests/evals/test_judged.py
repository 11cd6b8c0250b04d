"""Judged query sets and the reference baselines: the repo's nl-queries set, small made-up ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from typer.testing import CliRunner

from paperfeed.cli import app
from paperfeed.evals import baselines, judged
from paperfeed.evals.harness import Doc, EvalDataMissing

NL_QUERIES = Path(__file__).resolve().parents[2] / "evals" / "nl-queries"


def test_the_nl_query_set_is_complete_and_its_corpus_is_the_named_slice() -> None:
    query_set = judged.load(NL_QUERIES, SHARED_DATA)

    assert len(query_set.docs) == 17_175
    assert len(query_set.queries) == 70  # every query is judged
    assert {q.type for q in query_set.queries} == {"keyword", "description", "question", "method"}
    corpus = {d.id for d in query_set.docs}
    pooled = [json.loads(line) for line in (NL_QUERIES / "pools.jsonl").open()]
    judged_pairs = {(q.id, d) for q in query_set.queries for d in q.grades}
    assert judged_pairs == {(p["query_id"], p["paper_id"]) for p in pooled}  # the whole pool
    assert all(d in corpus for q in query_set.queries for d in q.grades)
    for query in query_set.queries:
        assert set(query.grades.values()) <= {0, 1, 2}
        assert 2 in query.grades.values()  # each query has at least one relevant paper


def test_the_hf_only_cut_keeps_the_listed_papers_with_their_ai_fields() -> None:
    whole = judged.load(NL_QUERIES, SHARED_DATA)
    cut = judged.load(NL_QUERIES, SHARED_DATA, hf_only=True)

    assert len(cut.docs) == 3_736  # the 2026 daily papers (README: 3,736 papers)
    assert {d.id for d in cut.docs} <= {d.id for d in whole.docs}
    kept = {d.id for d in cut.docs}
    assert 0 < len(cut.queries) < len(whole.queries)
    for query in cut.queries:
        assert set(query.grades) <= kept and 2 in query.grades.values()
    # Hugging Face's AI fields ride along, on the papers arXiv supplied too (870 in both)
    with_keywords = [d for d in cut.docs if d.ai_keywords]
    assert len(with_keywords) > 3_000
    assert sum(1 for d in whole.docs if d.ai_keywords) == len(with_keywords)
    assert all(d.ai_summary for d in with_keywords)
    assert with_keywords[0].paper().ai_keywords == list(with_keywords[0].ai_keywords or ())


def test_a_corpus_of_another_size_than_named_is_refused(tmp_path: Path) -> None:
    for name in ("queries.jsonl", "qrels.tsv"):
        (tmp_path / name).write_text((NL_QUERIES / name).read_text())
    spec = json.loads((NL_QUERIES / "corpus.json").read_text())
    spec["hf_daily"] = ["hf-daily-papers/api/2026-01-0*.json"]  # a smaller slice
    (tmp_path / "corpus.json").write_text(json.dumps(spec))

    with pytest.raises(EvalDataMissing, match="should hold 17175 papers"):
        judged.load(tmp_path, SHARED_DATA)


def test_scores_per_method_and_query_type() -> None:
    queries = [
        judged.JudgedQuery("q1", "keyword", "x", {"a": 2, "b": 1, "c": 0}),
        judged.JudgedQuery("q2", "question", "y", {"d": 2}),
    ]
    result = judged.score(queries, {"perfect": [["a", "b"], ["d"]], "worst": [["c"], ["z"]]})

    assert result["perfect"]["ndcg@10"] == 1.0
    assert result["perfect"]["map"] == 1.0 and result["perfect"]["recall@100"] == 1.0
    assert result["worst"]["ndcg@10"] == 0.0 and result["worst"]["recall@100"] == 0.0
    assert result["perfect"]["types"]["question"]["queries"] == 1


DOCS = [
    Doc("p1", "Gaussian splatting for dynamic scenes", "We reconstruct moving scenes in 4D."),
    Doc("p2", "Speech recognition", "An acoustic model for spoken words."),
    Doc("p3", "Static scenes", "Gaussian splats of buildings that never move."),
    Doc("p4", "Graph colouring", "Bounds on chromatic numbers of sparse graphs."),
]


def test_stock_bm25_ranks_by_the_words_and_leaves_out_papers_without_any() -> None:
    stock = baselines.StockBM25(DOCS)

    ranking = stock.rank("dynamic gaussian splatting", 10)
    assert ranking[0] == "p1"
    assert set(ranking) == {"p1", "p3"}  # stemmed: "splatting" and "splats" agree
    assert stock.rank("dynamic gaussian splatting", 10, within=["p3", "p4"]) == ["p3"]
    assert stock.rank("quantum chromodynamics", 10) == []


def test_plain_rrf_rewards_agreement() -> None:
    fused = baselines.rrf(["a", "b", "c"], ["b", "c", "a"])

    assert fused[0] == "b"  # ranks 2 and 1 beat ranks 1 and 3
    assert baselines.rrf(["a"], []) == ["a"]


def test_eval_queries_with_a_set_prints_the_baselines_beside_paperfeed() -> None:
    result = CliRunner().invoke(
        app,
        ["eval", "queries", "--set", str(NL_QUERIES), "--data", str(SHARED_DATA),
         "--models", "none", "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["corpus"] == 17_175
    for method in ("bm25-stock", "bm25"):
        assert 0.3 < figures[method]["ndcg@10"] <= 1.0
        assert figures[method]["types"]["keyword"]["queries"] == 18
    # paperfeed's BM25 must not fall behind a ten-line baseline on topical queries
    assert figures["bm25"]["ndcg@10"] >= figures["bm25-stock"]["ndcg@10"] - 0.01


def test_hf_only_without_a_set_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["eval", "queries", "--hf-only", "--models", "none"])

    assert result.exit_code == 2
    assert "--set" in result.output


def test_eval_queries_with_a_missing_set_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "queries", "--set", str(tmp_path), "--models",
                                      "none"])  # fmt: skip

    assert result.exit_code == 2
    assert "qrels.tsv" in result.output or "queries.jsonl" in result.output
