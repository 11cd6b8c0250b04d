"""A rebuild of the search index that runs out of room (a real EFBIG from the OS's file-size
limit, RLIMIT_FSIZE): the old index keeps serving, the half-built generation is removed, and the
next rebuild succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.search_corpus import OCTOBER_FILES, import_october, search_settings

from paperfeed.search import indexer, service
from paperfeed.store.db import Database

# A rebuild in a process whose files may not grow past 32 KiB: the OS answers a bigger write
# with EFBIG ("File too large"), as a full disk answers with ENOSPC. SIGXFSZ, which would kill
# the process instead, is ignored, so the error reaches the indexer like a disk error does.
_LIMITED_REBUILD = textwrap.dedent(
    """
    import resource, signal, sys
    from paperfeed.search import indexer
    from paperfeed.settings import Settings
    from paperfeed.store.db import Database

    home, url = sys.argv[1], sys.argv[2]
    db = Database(url)  # opened (and its schema checked) before the limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))
    indexer.update_indexes(db, Settings(home=home, database_url=url, search_dense=False),
                           rebuild=True)
    """
)


def _answers(indexes: service.SearchIndexes, db: Database) -> dict[str, list[str]]:
    with db.sessions() as session:
        return {
            query: [hit.paper.arxiv_id for hit in service.search(session, indexes, query).hits]
            for query in ("reinforcement learning", "video generation", "benchmark")
        }


def test_a_rebuild_that_hits_a_write_error_leaves_the_old_index_serving(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = search_settings(tmp_path / "home", sqlite_db.url, dense=False)
    import_october(sqlite_db, OCTOBER_FILES[:3])
    indexer.update_indexes(sqlite_db, settings)
    live = indexer.lexical_path(settings)
    generation = live.resolve()
    indexes = service.SearchIndexes(settings)
    before = _answers(indexes, sqlite_db)
    assert all(before.values())

    script = tmp_path / "limited_rebuild.py"
    script.write_text(_LIMITED_REBUILD)
    result = subprocess.run(
        [sys.executable, str(script), str(settings.home), sqlite_db.url],
        capture_output=True,
        text=True,
        env={**os.environ, "PAPERFEED_LOG_LEVEL": "ERROR"},
        timeout=120,
    )
    assert result.returncode == 1
    assert "File too large" in result.stderr  # the write error, as tantivy reports it

    assert live.resolve() == generation  # never swapped
    assert [p.name for p in live.parent.glob("lexical.*")] == [generation.name]  # none half-built
    assert _answers(indexes, sqlite_db) == before  # the open site searches on, unaware
    assert _answers(service.SearchIndexes(settings), sqlite_db) == before  # and a new reader

    report = indexer.update_indexes(sqlite_db, settings, rebuild=True)
    assert report.lexical_rebuilt and live.resolve() != generation
    assert _answers(service.SearchIndexes(settings), sqlite_db) == before


def test_a_generation_left_by_a_dead_build_is_removed_by_the_next_run(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A build killed before its swap (tests/search/test_index.py kills one) leaves a generation
    newer than the live one; the next run, holding the writer lock, deletes it."""
    settings = search_settings(tmp_path / "home", sqlite_db.url, dense=False)
    import_october(sqlite_db, OCTOBER_FILES[:1])
    indexer.update_indexes(sqlite_db, settings)
    live = indexer.lexical_path(settings)
    script = tmp_path / "killed_rebuild.py"
    script.write_text(
        _LIMITED_REBUILD.replace("signal.SIG_IGN", "signal.SIG_DFL")  # SIGXFSZ kills it mid-write
    )
    result = subprocess.run(
        [sys.executable, str(script), str(settings.home), sqlite_db.url],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode < 0  # killed by the signal: no Python cleanup ran
    left = [p for p in live.parent.glob("lexical.*") if p != live.resolve()]
    assert len(left) == 1  # the dead build's half-written generation

    indexer.update_indexes(sqlite_db, settings)  # no rebuild asked: the leftover still goes
    assert not left[0].exists()
    assert [p.name for p in live.parent.glob("lexical.*")] == [live.resolve().name]
