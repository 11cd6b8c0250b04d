"""Fixtures for the community tests: databases holding real daily lists, and site clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app
from support.accounts import import_days


@pytest.fixture
def data_db(db: Database) -> Database:
    """The `db` fixture (SQLite and PostgreSQL) holding the DAYS lists."""
    import_days(db)
    return db


@pytest.fixture
def site_db(sqlite_db: Database) -> Database:
    """An SQLite database holding the DAYS lists."""
    import_days(sqlite_db)
    return sqlite_db


@pytest.fixture
def site(site_db: Database, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Makes clients (each with its own cookies) of one site on `site_db`."""
    settings = Settings(database_url=site_db.url, home=tmp_path / "home")
    app = create_app(settings, site_db)
    clients: list[TestClient] = []

    def client(**kwargs) -> TestClient:
        test_client = TestClient(app, **kwargs)
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield client
    for test_client in clients:
        test_client.__exit__(None, None, None)
