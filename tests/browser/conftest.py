"""A real site in a real browser: a live uvicorn server on loopback and Playwright's chromium.

The server has its own SQLite database holding real daily lists (2 and 3 October 2025), plus
one real listing of 1 October 2025 whose title, abstract and an author name were replaced by
script payloads (imported through the normal Hugging Face importer), and a loopback arXiv API
that serves a real snapshot record as a paper submitted yesterday, for the submission step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL, HF_API_DIR
from playwright.sync_api import Browser, Dialog, Page
from support.arxiv_api_server import ArxivApiServer
from support.files import arxiv_subset
from support.live_server import LiveServer

from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

# Each payload, if it ever ran, would set window.__pwned or open an alert dialog.
PAYLOAD = '<script>window.__pwned = "{where}"</script><img src=x onerror="alert(\'{where}\')">'


@dataclass(frozen=True)
class LiveSite:
    """The running site and what the tests need to know about its data."""

    url: str
    db: Database
    hostile_id: str  # the listing whose imported title/abstract/author carry payloads
    fresh_id: str  # a paper arXiv "published yesterday", not stored yet: for submitting
    fresh_title: str


@dataclass
class Watched:
    """A browser page and every dialog (alert, confirm...) any script tried to open."""

    page: Page
    dialogs: list[str] = field(default_factory=list)

    def pwned(self) -> str:
        """typeof window.__pwned: 'undefined' unless a payload ran."""
        return self.page.evaluate("typeof window.__pwned")


def _hostile_listing(folder: Path) -> tuple[Path, str]:
    """A real daily list file of 1 October 2025 whose first entry carries payloads."""
    entries = json.loads((HF_API_DIR / "2025-10-01.json").read_text())
    entry = entries[0]
    paper = entry["paper"]
    paper["title"] = entry["title"] = PAYLOAD.format(where="title") + " " + paper["title"]
    paper["summary"] = entry["summary"] = PAYLOAD.format(where="abstract") + " " + paper["summary"]
    paper["authors"][0]["name"] = PAYLOAD.format(where="author")
    path = folder / "2025-10-01.json"
    path.write_text(json.dumps([entry]))
    return path, paper["id"]


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """The site, served by uvicorn on a free loopback port for the whole session."""
    folder = tmp_path_factory.mktemp("browser-site")
    hostile_file, hostile_id = _hostile_listing(folder)
    db = Database(f"sqlite:///{folder / 'paperfeed.db'}")
    files = [hostile_file, HF_API_DIR / "2025-10-02.json", HF_API_DIR / "2025-10-03.json"]
    report = hf_daily.import_paths(db, files)
    assert report.ok, report.rejected
    record = arxiv_subset(ARXIV_JSONL, folder / "fresh.jsonl.gz", 1)[0]
    record["published"] = datetime.now(UTC) - timedelta(days=1)
    with ArxivApiServer([record]) as arxiv:
        settings = Settings(
            home=folder / "home", database_url=db.url, arxiv_api_url=arxiv.url, http_delay_s=0,
            embed_in_background=False,
        )
        with LiveServer(create_app(settings, db)) as server:
            yield LiveSite(server.url, db, hostile_id, record["id"], record["title"])
    db.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    """A fresh browser context (no cookies) and page; dialogs are recorded and dismissed."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield watched
    context.close()

