"""Shared fixtures: real data paths and fresh databases on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paperfeed.store.db import Database

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Fixtures several test folders share (real databases with daily lists, the embedding models).
pytest_plugins = ["support.community_fixtures", "support.search_fixtures"]

SHARED_DATA = Path(
    os.environ.get(
        "PAPERFEED_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()
HF_API_DIR = SHARED_DATA / "hf-daily-papers" / "api"
HF_OTHER_SHAPES = SHARED_DATA / "hf-daily-papers" / "other-shapes"
ARXIV_JSONL = SHARED_DATA / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"
# A PostgreSQL server URL (any database on it); .ci/run starts one and sets this.
POSTGRES_URL = os.environ.get("PAPERFEED_TEST_POSTGRES_URL")
# Screenshots and other files a test run leaves for people to look at.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Debian's chromium (.ci/run installs it); the flags keep it off this closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(
            f"shared data not found at {SHARED_DATA}; set PAPERFEED_SHARED_DATA"
        )
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError("CI must run the PostgreSQL tests: set PAPERFEED_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own PAPERFEED_HOME and never reads a developer's settings file."""
    for key in list(os.environ):
        if key.startswith("PAPERFEED_") and key not in (
            "PAPERFEED_TEST_POSTGRES_URL",
            "PAPERFEED_SHARED_DATA",
        ):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PAPERFEED_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PAPERFEED_HTTP_DELAY_S", "0")
    # No test app embeds papers behind the test's back; tests of that turn it on themselves.
    monkeypatch.setenv("PAPERFEED_EMBED_IN_BACKGROUND", "false")
    # One process, as `make run`: on PostgreSQL too. Tests of the job queue and of search
    # replicas (several nodes) turn it on themselves.
    monkeypatch.setenv("PAPERFEED_JOB_QUEUE", "false")
    from paperfeed.settings import get_settings

    get_settings.cache_clear()


def _fresh_postgres_database() -> Iterator[str]:
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need PAPERFEED_TEST_POSTGRES_URL (see .ci/run)")
    yield from _fresh_postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of an empty SQLite database, for tests that are not about the store."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An open, migrated database on each backend."""
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright: one for the whole run, because
    Playwright's sync API cannot run two instances in one thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root, for screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
