"""Search replicas: several data folders follow one database's change log, none consuming it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import HF_API_DIR
from sqlalchemy import func, select

from paperfeed.ingest import hf_daily
from paperfeed.search import lexical, replica
from paperfeed.search.indexer import lexical_path
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow, SearchChangeRow

FIRST = [HF_API_DIR / "2025-06-09.json", HF_API_DIR / "2025-06-10.json"]
LATER = HF_API_DIR / "2025-06-11.json"
DAY_S = 86_400.0


def _node(db: Database, home: Path) -> Settings:
    return Settings(database_url=db.url, home=home, job_queue=True, search_dense=False)


def _finds(settings: Settings, paper_id: str) -> bool:
    index = lexical.open_index(lexical_path(settings).resolve())
    index.reload()
    query = index.parse_query(f'"{paper_id}"', ["id"])
    return index.searcher().search(query, 1).count == 1


def _count(db: Database, model: type) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_two_nodes_build_their_replicas_and_follow_new_papers(db: Database, tmp_path: Path):
    assert hf_daily.import_paths(db, FIRST).ok
    nodes = [_node(db, tmp_path / "a"), _node(db, tmp_path / "b")]
    for node in nodes:
        built = replica.refresh(db, node)
        assert built.lexical_rebuilt
        assert built.lexical_total == _count(db, PaperRow)
    changes = _count(db, SearchChangeRow)
    assert changes > 0  # every node reads the log; none deletes it

    later = hf_daily.import_paths(db, [LATER])
    assert later.ok and later.saved.papers.inserted > 0
    new_paper = hf_daily.parse_entry(json.loads(LATER.read_text())[0]).paper.arxiv_id
    for node in nodes:
        assert not _finds(node, new_paper)
        followed = replica.refresh(db, node)
        assert not followed.lexical_rebuilt
        assert followed.lexical_updated >= later.saved.papers.inserted
        assert followed.lexical_total == _count(db, PaperRow)
        assert _finds(node, new_paper)
        assert replica.refresh(db, node).lexical_updated == 0  # applied changes are not redone
    assert _count(db, SearchChangeRow) > changes


def test_pruned_changes_make_a_node_that_missed_them_rebuild(db: Database, tmp_path: Path):
    assert hf_daily.import_paths(db, FIRST).ok
    node = _node(db, tmp_path / "a")
    replica.refresh(db, node)
    assert hf_daily.import_paths(db, [LATER]).ok  # changes the node has not read yet (it is down)
    assert replica.prune_changes(db, now=1_000_000.0) == 0  # a day's grace first
    pruned = replica.prune_changes(db, now=1_000_000.0 + DAY_S)
    assert pruned > 0
    again = replica.refresh(db, node)
    assert again.lexical_rebuilt  # its cursor is older than what was pruned
    assert again.lexical_total == _count(db, PaperRow)
