"""Fixtures for the web tests: one SQLite database of real daily lists, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_files

from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

# Late May to early July 2025 (June is the month under test, its neighbours give navigation),
# then early October 2025: the first lists with organizations, after a gap of two months.
FEED_FILES = [
    *hf_files(HF_API_DIR, "2025-05-2"),
    *hf_files(HF_API_DIR, "2025-05-3"),
    *hf_files(HF_API_DIR, "2025-06"),
    *hf_files(HF_API_DIR, "2025-07-0"),
    *hf_files(HF_API_DIR, "2025-10-0"),
]


@pytest.fixture(scope="session")
def feed_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database holding the daily lists of FEED_FILES, imported as an operator would."""
    path = tmp_path_factory.mktemp("feed") / "paperfeed.db"
    db = Database(f"sqlite:///{path}")
    report = hf_daily.import_paths(db, FEED_FILES)
    assert report.ok, report.rejected
    yield db
    db.close()


@pytest.fixture(scope="session")
def client(feed_db: Database) -> Iterator[TestClient]:
    """A client of the site on that database, with the default page size of 50."""
    # Session-scoped: made before the autouse fixture turns the background embedder off, so it
    # is turned off here (its model thread still running at exit aborted pytest, status 134).
    settings = Settings(
        database_url=feed_db.url,
        page_size=50,
        site_name="paperfeed",
        base_url="http://testserver",
        embed_in_background=False,
    )
    with TestClient(create_app(settings, feed_db)) as test_client:
        yield test_client
