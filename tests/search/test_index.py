"""The search indexes stay in step with the store: after ingest, re-ingest, rebuild and a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.search_corpus import OCTOBER_FILES, import_october, search_settings

from paperfeed.search import indexer, lexical, service
from paperfeed.store.db import Database
from paperfeed.store.models import SearchChangeRow
from paperfeed.store.reader import get_paper
from paperfeed.store.writer import save_papers

QUERIES = [
    "reinforcement learning reasoning",
    "video generation diffusion",
    "benchmark for agents",
    "speech",
    "3D reconstruction",
]


def _top(index, query: str, limit: int = 10) -> list[str]:
    text_query, _ = lexical.text_query(query)
    return [paper_id for paper_id, _ in lexical.search(index, text_query, limit)]


def _snapshot(settings) -> tuple[int, dict[str, list[str]]]:
    index = lexical.open_index(indexer.lexical_path(settings).resolve())
    return index.searcher().num_docs, {q: _top(index, q) for q in QUERIES}


def _contents(settings) -> dict[str, set[str]]:
    """For each query, every paper it matches: what the index holds, whatever the scores."""
    index = lexical.open_index(indexer.lexical_path(settings).resolve())
    return {q: set(_top(index, q, 1000)) for q in QUERIES}


def _pending(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(SearchChangeRow)) or 0


def test_an_ingested_paper_is_searchable_and_a_changed_one_reindexed(
    db: Database, tmp_path
) -> None:
    settings = search_settings(tmp_path / "home", db.url, dense=False)
    import_october(db, OCTOBER_FILES[:2])
    indexer.update_indexes(db, settings)
    assert _pending(db) == 0
    indexes = service.SearchIndexes(settings)
    with db.sessions() as session:
        assert not service.search(session, indexes, "StockBench").hits  # listed on a later day

    import_october(db, OCTOBER_FILES[2:])  # the writer queues the new papers for the index
    assert _pending(db) > 0
    report = indexer.update_indexes(db, settings)

    assert report.lexical_updated > 0 and not report.lexical_rebuilt
    assert _pending(db) == 0
    with db.sessions() as session:
        hits = service.search(session, indexes, "StockBench").hits
        assert hits[0].paper.arxiv_id == "2510.02209"
        paper = get_paper(session, "2510.02209")

    renamed = paper.model_copy(
        update={
            "title": "Quokkas trading equities",
            "abstract": "Marsupials on a stock exchange.",
            "source": "arxiv",
            "version": 9,
        }
    )
    with db.transaction() as session:
        save_papers(session, [renamed])
    indexer.update_indexes(db, settings)

    with db.sessions() as session:
        assert service.search(session, indexes, "quokkas").hits[0].paper.arxiv_id == "2510.02209"
        old_title = [h.paper.arxiv_id for h in service.search(session, indexes, "StockBench").hits]
    assert "2510.02209" not in old_title


def test_a_rebuilt_index_gives_the_same_results_as_an_incremental_one(
    sqlite_db: Database, tmp_path
) -> None:
    settings = search_settings(tmp_path / "home", sqlite_db.url, dense=False)
    for start in range(0, len(OCTOBER_FILES), 2):  # four imports, each indexed incrementally
        import_october(sqlite_db, OCTOBER_FILES[start : start + 2])
        indexer.update_indexes(sqlite_db, settings)
    incremental = _snapshot(settings)

    report = indexer.update_indexes(sqlite_db, settings, rebuild=True)

    assert report.lexical_rebuilt
    assert _snapshot(settings) == incremental
    assert incremental[0] == 194
    generations = list((tmp_path / "home" / "index").glob("lexical.*"))
    # The generation just replaced stays for readers that resolved the link before the swap.
    live = (tmp_path / "home" / "index" / "lexical").resolve()
    assert len(generations) == 2 and live in [g.resolve() for g in generations]
    indexer.update_indexes(sqlite_db, settings, rebuild=True)
    assert len(list((tmp_path / "home" / "index").glob("lexical.*"))) == 2  # older ones go
    assert _snapshot(settings) == incremental


_KILLABLE_UPDATE = textwrap.dedent(
    """
    import sys, time
    from paperfeed.search import indexer
    from paperfeed.settings import Settings
    from paperfeed.store.db import Database

    home, url, rebuild = sys.argv[1], sys.argv[2], sys.argv[3] == "rebuild"
    indexer.BATCH = 20  # small batches, so the kill lands between and inside commits
    original_delete = indexer._delete_outbox
    original_swap = indexer._swap_in

    def slow_delete(db, seqs):
        original_delete(db, seqs)
        print("batch committed", flush=True)
        time.sleep(0.3)

    def stalled_swap(live, target):
        print("rebuild written", flush=True)
        time.sleep(60)  # killed here: the new generation is complete but not yet live
        original_swap(live, target)

    indexer._delete_outbox = slow_delete
    indexer._swap_in = stalled_swap
    settings = Settings(home=home, database_url=url, search_dense=False)
    indexer.update_indexes(Database(url), settings, rebuild=rebuild)
    """
)


def _run_until(settings, mode: str, marker: str, tmp_path: Path) -> None:
    """Start an index update in a subprocess and SIGKILL it once it prints `marker`."""
    script = tmp_path / "killable_update.py"
    script.write_text(_KILLABLE_UPDATE)
    process = subprocess.Popen(
        [sys.executable, str(script), str(settings.home), settings.database_url, mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PAPERFEED_LOG_LEVEL": "ERROR"},
    )
    try:
        deadline = time.monotonic() + 120
        for line in process.stdout:
            if marker in line:
                break
            assert time.monotonic() < deadline
        else:
            pytest.fail(f"the update ended before printing {marker!r}")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL


def test_an_update_killed_mid_way_leaves_a_consistent_index(sqlite_db: Database, tmp_path) -> None:
    settings = search_settings(tmp_path / "home", sqlite_db.url, dense=False)
    import_october(sqlite_db, OCTOBER_FILES[:2])
    indexer.update_indexes(sqlite_db, settings)
    before = _snapshot(settings)
    import_october(sqlite_db, OCTOBER_FILES[2:])
    queued = _pending(sqlite_db)

    _run_until(settings, "incremental", "batch committed", tmp_path)

    # The index opens and answers; the papers indexed so far are in it, the rest still queued.
    count, _ = _snapshot(settings)
    assert before[0] < count < 194
    assert 0 < _pending(sqlite_db) < queued
    indexer.update_indexes(sqlite_db, settings)  # the next run finishes the work
    finished, held = _snapshot(settings), _contents(settings)
    assert finished[0] == 194 and _pending(sqlite_db) == 0

    _run_until(settings, "rebuild", "rebuild written", tmp_path)  # killed before the swap

    assert _snapshot(settings) == finished  # the live index was never touched
    indexer.update_indexes(sqlite_db, settings, rebuild=True)
    # Rebuilt from the store, it holds exactly what the updated one held. (Scores may differ in
    # the last digits: BM25 statistics count replaced documents until tantivy merges segments.)
    assert _snapshot(settings)[0] == 194
    assert _contents(settings) == held
    assert len(list((tmp_path / "home" / "index").glob("lexical.*"))) == 2  # live + replaced


def test_the_vector_index_follows_the_stored_vectors(sqlite_db: Database, tmp_path) -> None:
    import numpy as np

    from paperfeed.search.embedding import MINILM_NAME
    from paperfeed.search.vectors import ann as vectors
    from paperfeed.search.vectors import store as vectors_store

    settings = search_settings(tmp_path / "home", sqlite_db.url)
    import_october(sqlite_db, OCTOBER_FILES[:1])
    with sqlite_db.sessions() as session:
        ids = sorted(p for p in session.scalars(select(SearchChangeRow.paper_id)))[:10]
    rng = np.random.default_rng(0)

    def store(paper_ids: list[str]) -> None:
        rows = rng.standard_normal((len(paper_ids), 384)).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        with sqlite_db.transaction() as session:
            vectors_store.save_embeddings(
                session, MINILM_NAME, [(i, "hash", v) for i, v in zip(paper_ids, rows, strict=True)]
            )

    store(ids[:6])
    first = indexer.update_indexes(sqlite_db, settings)
    again = indexer.update_indexes(sqlite_db, settings)
    time.sleep(0.01)  # the store's marker has microsecond timestamps
    store(ids[6:])
    grown = indexer.update_indexes(sqlite_db, settings)

    assert first.vectors_rebuilt and first.vectors_total == 6
    assert not again.vectors_rebuilt and again.vectors_total == 6
    assert grown.vectors_rebuilt and grown.vectors_total == 10
    live = vectors.load(indexer.vectors_path(settings, MINILM_NAME).resolve())
    assert sorted(live.ids.tolist()) == ids
    # Three builds: the first generation is gone, the one just replaced stays for readers.
    live_path = indexer.vectors_path(settings, MINILM_NAME)
    assert len(list(live_path.parent.glob(f"{live_path.name}.*"))) == 2
