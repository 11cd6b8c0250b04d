"""In headless Chromium: the feed page's sign-up form without JavaScript, and a digest rendered."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from support.live_server import LiveServer

from digest.conftest import FAST_RETRY, add_active
from paperfeed.digest import service, subscriptions
from paperfeed.web.app import create_app


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Browser tests are about pages, not the store: SQLite only."""
    return sqlite_url


def test_subscribe_without_javascript_and_screenshot_the_digest(
    digest_db, digest_settings, mail_server, browser: Browser, artifacts: Path
) -> None:
    handler, _ = mail_server
    app = create_app(digest_settings, digest_db)
    with LiveServer(app) as server:
        settings = digest_settings.model_copy(update={"base_url": server.url})
        app.state.settings = settings  # links in mails point at this live server
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 900, "height": 1200}
        )
        page = context.new_page()
        page.goto(f"{server.url}/papers/date/2025-06-10")
        page.fill("input[type=email]", "browser@example.org")
        page.select_option("select[name=frequency]", "weekly")
        page.click("form.subscribe summary")
        page.fill("form.subscribe input[name=keywords]", "video, agents")
        page.click("form.subscribe button[type=submit]")
        assert page.locator("h1").inner_text() == "Check your inbox"

        [confirmation] = handler.wait_for("browser@example.org")
        plain = confirmation.get_body(("plain",)).get_content()
        page.goto(re.search(r"Confirm the subscription: (\S+)", plain).group(1))
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "You are subscribed"

        with digest_db.sessions() as session:
            row = subscriptions.by_email(session, "browser@example.org")
            assert (row.status, row.frequency, row.keywords) == (
                "active",
                "weekly",
                ["video", "agents"],
            )
        add_active(digest_db, "daily@example.org", keywords="diffusion", organizations="Qwen")
        service.send_digests(digest_db, settings, "daily", date(2025, 6, 10), retry=FAST_RETRY)
        [digest] = handler.to("daily@example.org")
        html = digest.get_body(("html",)).get_content()

        mail_view = browser.new_context(
            java_script_enabled=False, viewport={"width": 700, "height": 900}
        )
        view = mail_view.new_page()
        view.set_content(html)
        assert view.locator("h1").inner_text() == "Tuesday, 10 June 2025"
        assert view.locator("text=Trending today").count() == 1
        shot = artifacts / "digest-email.png"
        view.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        # The unsubscribe link in the rendered mail opens the page with the button.
        view.click("text=Unsubscribe")
        assert view.locator("h1").inner_text() == "Unsubscribe"
        context.close()
        mail_view.close()
