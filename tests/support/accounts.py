"""Helpers for tests of accounts and community features: real data, users, logged-in clients."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import HF_API_DIR
from fastapi.testclient import TestClient

from paperfeed.community import accounts
from paperfeed.ingest import hf_daily
from paperfeed.store.db import Database
from paperfeed.store.models import UserRow

# Two real daily lists: 2 and 3 October 2025 (organizations, comment counts, many upvotes).
DAYS = ["2025-10-02", "2025-10-03"]
DAY_FILES = [HF_API_DIR / f"{day}.json" for day in DAYS]
PASSWORD = "correct horse battery"


def import_days(db: Database, files: list[Path] = DAY_FILES) -> None:
    report = hf_daily.import_paths(db, files)
    assert report.ok, report.rejected


def make_user(db: Database, username: str, *, admin: bool | None = False) -> UserRow:
    """An account with PASSWORD, created as the service does it."""
    with db.transaction() as session:
        return accounts.create_user(
            session, username, f"{username}@example.org", PASSWORD, admin=admin
        )


def csrf_of(page: str) -> str:
    """The CSRF token in a rendered page's forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log the client in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )
    assert response.status_code == 200, response.text[:500]
    return csrf_of(client.get("/settings").text)
