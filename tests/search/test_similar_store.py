"""Similar-paper rankings kept on disk per index state: shared by a node's workers, filled by
`paperfeed index --similar`, and never used once the indexes have changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.search_corpus import import_october, make_home, search_settings

from paperfeed.search import service
from paperfeed.search.indexer import update_indexes
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.reader import get_paper
from paperfeed.store.writer import save_papers

PAPER = "2509.26488"  # dParallel


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    """The October 2025 lists, BM25 index built (vectors take no part in what is tested)."""
    home = make_home(tmp_path / "home")
    db = Database(f"sqlite:///{home / 'paperfeed.db'}")
    import_october(db)
    settings = search_settings(home, db.url, dense=False)
    update_indexes(db, settings)
    yield settings, db
    db.close()


def _similar(db: Database, indexes: service.SearchIndexes, limit: int = 8) -> list[str]:
    with db.sessions() as session:
        return [hit.paper.arxiv_id for hit in service.similar(session, indexes, PAPER, limit=limit)]


def test_a_ranking_one_worker_worked_out_is_read_by_another(site) -> None:
    settings, db = site
    first = service.SearchIndexes(settings)
    ranked = _similar(db, first)

    other = service.SearchIndexes(settings)  # another worker: nothing in its memory
    kept = other.similar_store.get(PAPER, other.state(other.vectors()))

    assert kept is not None
    assert [paper_id for paper_id, _, _ in kept][:8] == ranked
    assert _similar(db, other) == ranked
    assert _similar(db, other, limit=30)[:8] == ranked  # more than is kept: ranked again


def test_a_kept_ranking_is_not_used_once_the_index_changed(site) -> None:
    settings, db = site
    before = _similar(db, service.SearchIndexes(settings))
    with db.sessions() as session:
        paper = get_paper(session, PAPER)
    assert paper is not None
    twin = paper.model_copy(update={"arxiv_id": "2510.99999"})  # the same title and abstract
    with db.transaction() as session:
        save_papers(session, [twin])
    update_indexes(db, settings)

    after = _similar(db, service.SearchIndexes(settings))

    assert "2510.99999" not in before
    assert after[0] == "2510.99999"


def test_index_similar_keeps_every_papers_ranking_at_the_current_state(site) -> None:
    settings, db = site
    env = {
        **os.environ,
        "PAPERFEED_HOME": str(settings.home),
        "PAPERFEED_DATABASE_URL": settings.database_url,
        "PAPERFEED_SEARCH_DENSE": "false",
    }
    run = subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", "index", "--similar"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    indexes = service.SearchIndexes(settings)
    state = indexes.state(indexes.vectors())
    with db.sessions() as session:
        from sqlalchemy import func, select

        from paperfeed.store.models import PaperRow

        papers = session.scalar(select(func.count()).select_from(PaperRow))
    assert indexes.similar_store.states() == {state: papers}
    assert f"similar papers: {papers} papers ranked" in run.stdout
    kept = indexes.similar_store.get(PAPER, state)
    assert kept is not None
    assert [paper_id for paper_id, _, _ in kept][:8] == _similar(db, indexes)


def test_a_copy_of_the_data_folder_keeps_its_rankings(site, tmp_path: Path) -> None:
    settings, db = site
    ranked = _similar(db, service.SearchIndexes(settings))
    copy = tmp_path / "copy"
    shutil.copytree(settings.home / "index", copy / "index")  # links become folders
    copied = service.SearchIndexes(settings.model_copy(update={"home": copy}))
    original = service.SearchIndexes(settings)

    state = copied.state(copied.vectors())

    assert state == original.state(original.vectors())
    kept = copied.similar_store.get(PAPER, state)
    assert kept is not None and [paper_id for paper_id, _, _ in kept][:8] == ranked
