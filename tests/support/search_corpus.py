"""A small real corpus for the search tests: early-October 2025 daily lists, 64 of them embedded."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import HF_API_DIR

from paperfeed.ingest import hf_daily
from paperfeed.search.embedding import paper_text, text_hash
from paperfeed.search.vectors import store as vectors_store
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.reader import load_papers
from support.files import hf_files

# 194 papers from seven daily lists, 62 of them with an organization (the first lists with any).
OCTOBER_FILES = hf_files(HF_API_DIR, "2025-10-0")
EMBEDDED = 64  # CPU embedding is slow and the machine is shared: the first 64 papers by id
# Where tests/search/conftest.py keeps the exported ONNX model between runs.
MODEL_CACHE_HOME = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "paperfeed-tests" / "home"
)


def make_home(path: Path) -> Path:
    """A data folder whose models/ is the shared test model cache (no export per test)."""
    path.mkdir(parents=True, exist_ok=True)
    (MODEL_CACHE_HOME / "models").mkdir(parents=True, exist_ok=True)
    (path / "models").symlink_to(MODEL_CACHE_HOME / "models", target_is_directory=True)
    return path


def search_settings(home: Path, database_url: str, *, dense: bool = True) -> Settings:
    return Settings(
        home=home, database_url=database_url, search_dense=dense, embed_in_background=False
    )


def import_october(db: Database, files: list[Path] | None = None) -> None:
    report = hf_daily.import_paths(db, files or OCTOBER_FILES)
    assert report.ok, report.rejected


def embed_papers(db: Database, embedder, count: int = EMBEDDED) -> list[str]:
    """Embed and store the first `count` papers by id; their ids."""
    with db.sessions() as session:
        ids = sorted(p for p in load_papers(session, _all_ids(session)))[:count]
        papers = load_papers(session, ids)
    texts = [paper_text(papers[i].title, papers[i].abstract) for i in ids]
    vectors = embedder.embed(texts)
    with db.transaction() as session:
        vectors_store.save_embeddings(
            session,
            embedder.name,
            [(i, text_hash(t), v) for i, t, v in zip(ids, texts, vectors, strict=True)],
        )
    return ids


def _all_ids(session) -> list[str]:
    from sqlalchemy import select

    from paperfeed.store.models import PaperRow

    return list(session.scalars(select(PaperRow.id)))
