"""The search commands: ingest makes papers searchable, `index`, `search`, `eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from support.search_corpus import OCTOBER_FILES

CSFCUBE = SHARED_DATA / "csfcube"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPERFEED_HOME": str(home), "PAPERFEED_SEARCH_DENSE": "false"}
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder where `paperfeed ingest hf-daily` imported the October 2025 lists."""
    folder = tmp_path_factory.mktemp("search-cli")
    result = _cli(folder, "ingest", "hf-daily", *map(str, OCTOBER_FILES))
    assert result.returncode == 0, result.stderr
    return folder


def test_ingest_leaves_the_papers_searchable(home: Path) -> None:
    result = _cli(home, "search", "StockBench", "--json", "--limit", "3")

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "2510.02209"
    assert rows[0]["matched"] == ["stockbench"]
    assert rows[0]["semantic"] is None  # dense search is off here
    assert len(rows) <= 3


def test_search_prints_a_list_and_takes_filters(home: Path) -> None:
    listed = _cli(home, "search", "video generation", "--limit", "2")
    filtered = _cli(home, "search", "video", "--organization", "nvidia", "--json")
    hostile = _cli(home, "search", '" AND (x OR -y*; DROP TABLE papers')
    bad_date = _cli(home, "search", "x", "--from", "yesterday")

    assert listed.returncode == 0
    assert listed.stdout.startswith(" 1. ") and "\n 2. " in listed.stdout
    assert "matched: video" in listed.stdout
    rows = json.loads(filtered.stdout)
    assert rows and all(row["id"] for row in rows)
    assert hostile.returncode == 0, hostile.stderr
    assert bad_date.returncode == 2


def test_index_command(home: Path) -> None:
    updated = _cli(home, "index")
    rebuilt = _cli(home, "index", "--rebuild")

    assert updated.returncode == 0, updated.stderr
    assert "BM25 0 papers updated, 194 papers" in updated.stdout
    assert "vectors off" in updated.stdout
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "BM25 rebuilt, 194 papers" in rebuilt.stdout


def test_eval_similar_on_csfcube_bm25(home: Path) -> None:
    result = _cli(home, "eval", "similar", "--csfcube", str(CSFCUBE), "--models", "none", "--json")
    table = _cli(home, "eval", "similar", "--csfcube", str(CSFCUBE), "--models", "none")

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"bm25-stock", "bm25"}  # the reference baseline beside ours
    assert figures["bm25"]["queries"] == figures["bm25-stock"]["queries"] == 50
    assert 0.4 < figures["bm25-stock"]["ndcg@10"] < 0.56
    assert 0.45 < figures["bm25"]["ndcg@10"] < 0.56  # the collection's BM25 reference: 0.481
    assert 0.2 < figures["bm25"]["map"] < 0.45
    assert set(figures["bm25"]["facets"]) == {"background", "method", "result"}
    assert "ndcg@10" in table.stdout and "facet method" in table.stdout


def test_eval_errors(home: Path, tmp_path: Path) -> None:
    missing = _cli(home, "eval", "similar", "--csfcube", str(tmp_path), "--models", "none")
    bad_model = _cli(home, "eval", "similar", "--csfcube", str(CSFCUBE), "--models", "bert")

    assert missing.returncode == 2 and "CSFCube file not found" in missing.stderr
    assert bad_model.returncode == 2


def test_eval_queries_known_items_bm25(home: Path) -> None:
    result = _cli(
        home, "eval", "queries", "--models", "none", "--corpus", "150", "--queries", "40", "--json"
    )

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["corpus"] == 150
    assert set(figures["bm25"]["styles"]) == {"summary", "keywords"}
    assert figures["bm25"]["queries"] == 80
    assert figures["bm25"]["recall@10"] > 0.5  # summaries and keywords share words with papers
    assert "without Hugging Face's AI summaries and keywords" in figures["note"]


def test_the_known_item_corpus_is_indexed_without_its_queries(home: Path) -> None:
    # The queries are the papers' AI summaries and keywords, which the site indexes: the eval's
    # corpus leaves them out, or each query would find the words it was taken from.
    from paperfeed.evals import known_items
    from paperfeed.settings import Settings
    from paperfeed.store.db import Database

    with Database(Settings(home=home).database_url) as db, db.sessions() as session:
        corpus, queries = known_items.build(session, 150, 40)

    assert len(corpus) == 150 and len(queries) == 80
    assert all(doc.ai_summary is None and doc.ai_keywords is None for doc in corpus)
    assert all(doc.paper().ai_keywords is None for doc in corpus)
