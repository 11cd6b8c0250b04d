"""Searching from the header box in a real browser (Playwright's chromium, live uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from support.live_server import LiveServer
from support.search_corpus import import_october, search_settings

from paperfeed.search.indexer import update_indexes
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The October 2025 lists, BM25 only (no model in this browser test), served live."""
    home = tmp_path_factory.mktemp("search-browser") / "home"
    db = Database(f"sqlite:///{home / 'paperfeed.db'}")
    import_october(db)
    settings = search_settings(home, db.url, dense=False)
    update_indexes(db, settings)
    with LiveServer(create_app(settings, db)) as server:
        yield server.url
    db.close()


def test_search_from_the_header_box(site_url: str, browser: Browser, artifacts: Path) -> None:
    dialogs: list[str] = []
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{site_url}/papers/2509.26618")
        page.fill("header form.search input[name=q]", "StockBench")
        page.press("header form.search input[name=q]", "Enter")
        page.wait_for_url("**/search?q=StockBench")

        first = page.locator("article.card h2 a").first
        assert first.inner_text().startswith("StockBench")
        assert "matched: stockbench" in page.locator("p.why").first.inner_text()
        assert page.input_value("form.search-form input[name=q]") == "StockBench"
        page.screenshot(path=str(artifacts / "search-page.png"), full_page=True)

        hostile = '<img src=x onerror=alert(1)> " AND (x'
        page.fill("header form.search input[name=q]", hostile)
        page.press("header form.search input[name=q]", "Enter")
        page.wait_for_load_state()
        assert page.input_value("form.search-form input[name=q]") == hostile
        assert dialogs == []
    finally:
        context.close()
