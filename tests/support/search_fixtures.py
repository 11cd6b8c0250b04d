"""Shared search fixtures: the real embedding models (exported/distilled once) and real papers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL

from paperfeed.search.embedding import Embedder, load_embedder
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from support.files import arxiv_subset

# Exported and distilled models are deterministic and carry a version in their file names, so
# they are kept between test runs (the ONNX export takes ~5 s, the distillation ~30 s).
MODEL_CACHE_HOME = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "paperfeed-tests" / "home"
)


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    """Settings whose home holds the cached models (nothing else is written there)."""
    MODEL_CACHE_HOME.mkdir(parents=True, exist_ok=True)
    return Settings(home=MODEL_CACHE_HOME, database_url="sqlite://")


@pytest.fixture(scope="session")
def minilm(model_settings: Settings) -> Embedder:
    """all-MiniLM-L6-v2 on CPU as papers are embedded (OpenVINO), loaded once per test session."""
    return load_embedder(model_settings, "minilm", "cpu")


@pytest.fixture(scope="session")
def static_embedder(model_settings: Settings) -> Embedder:
    """The model2vec model distilled from the shipped MiniLM, loaded once per test session."""
    return load_embedder(model_settings, "static", "cpu")


@pytest.fixture
def home_with_models(model_settings: Settings) -> Path:
    """This test's PAPERFEED_HOME, its models/ linked to the cached ones (no export per test)."""
    home = Path(os.environ["PAPERFEED_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (model_settings.home / "models").mkdir(exist_ok=True)
    (home / "models").symlink_to(model_settings.home / "models", target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def arxiv_sample(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """A function: the first `count` records of the real arXiv snapshot as a .jsonl.gz file."""
    folder = tmp_path_factory.mktemp("arxiv-sample")

    def sample(count: int) -> Path:
        path = folder / f"arxiv-{count}.jsonl.gz"
        if not path.exists():
            arxiv_subset(ARXIV_JSONL, path, count)
        return path

    return sample


@pytest.fixture
def papers_db(db: Database, arxiv_sample) -> Callable[[int], Database]:
    """A function: the test's database (each backend) holding the first `count` real papers."""
    from paperfeed.ingest import arxiv_jsonl

    def load(count: int) -> Database:
        report = arxiv_jsonl.import_file(db, arxiv_sample(count), restart=True)
        assert report.ok, report.rejected
        return db

    return load
