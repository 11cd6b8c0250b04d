"""The logged-in preview page, and the built-in schedule (alone and inside the web app)."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from digest.conftest import add_active, csrf_of
from paperfeed.community import accounts
from paperfeed.digest import outbox, schedule, service
from paperfeed.digest.subscriptions import Interests
from paperfeed.web.app import create_app


def test_preview_page_for_a_logged_in_user(client, digest_db, mail_server) -> None:
    handler, _ = mail_server
    anonymous = client.get("/digest/preview", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    with digest_db.transaction() as session:
        user = accounts.create_user(session, "previewer", "Previewer@example.org", "password123")
        user_id = user.id
    add_active(digest_db, "previewer@example.org", keywords="video", user_id=user_id)
    login = client.get("/login")
    client.post(
        "/login",
        data={
            "username": "previewer",
            "password": "password123",
            "csrf_token": csrf_of(login.text),
        },
    )
    page = client.get("/digest/preview", params={"date": "2025-06-10"})
    assert page.status_code == 200 and "Tuesday, 10 June 2025" in page.text
    assert "Matching your interests" in page.text
    text = client.get(
        "/digest/preview", params={"date": "2025-06-10", "format": "text", "period": "weekly"}
    )
    assert text.headers["content-type"].startswith("text/plain")
    assert "Week 24, 2025" in text.text and "== Trending this week ==" in text.text
    latest = client.get("/digest/preview")
    assert "showing" in latest.headers["x-preview-note"]
    assert client.get("/digest/preview", params={"date": "2025-13-01"}).status_code == 422
    assert handler.received == []

    # The subscribe page (linked from account settings) shows their subscription and its links.
    own = client.get("/digest/subscribe")
    assert "previewer@example.org gets the daily digest" in own.text
    assert 'value="Previewer@example.org"' in own.text
    preferences = re.search(r'href="(/digest/preferences\?token=[^"]+)"', own.text).group(1)
    assert "previewer@example.org" in client.get(html.unescape(preferences)).text


def test_next_send_time() -> None:
    at = datetime(2025, 6, 16, 6, 59, tzinfo=UTC)
    assert schedule.next_send_at(at, "07:00") == datetime(2025, 6, 16, 7, 0, tzinfo=UTC)
    assert schedule.next_send_at(at, "06:30") == datetime(2025, 6, 17, 6, 30, tzinfo=UTC)


def test_the_schedule_sends_daily_and_weekly_once_each(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    add_active(digest_db, "day@example.org")
    add_active(digest_db, "week@example.org", frequency="weekly")
    schedule.run_due(digest_db, digest_settings, datetime(2025, 6, 16, 7, 0, tzinfo=UTC))
    assert "Week 24, 2025" in handler.to("week@example.org")[0]["Subject"]  # Monday
    assert handler.to("day@example.org") == []  # Sunday the 15th had no list: no mail
    schedule.run_due(digest_db, digest_settings, datetime(2025, 6, 17, 7, 0, tzinfo=UTC))
    assert "Monday, 16 June 2025" in handler.to("day@example.org")[0]["Subject"]
    assert len(handler.to("week@example.org")) == 1  # week 24 went out on Monday
    # Running the same day again (a second worker, cron beside serve) sends nothing more.
    schedule.run_due(digest_db, digest_settings, datetime(2025, 6, 17, 7, 5, tzinfo=UTC))
    assert len(handler.received) == 2


def test_a_weekly_digest_missed_on_monday_goes_out_the_next_day(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    add_active(digest_db, "week@example.org", frequency="weekly")
    # The site was down all Monday 16 June; it runs again on Wednesday.
    schedule.run_due(digest_db, digest_settings, datetime(2025, 6, 18, 7, 0, tzinfo=UTC))
    [weekly] = handler.to("week@example.org")
    assert "Week 24, 2025" in weekly["Subject"]


def test_serve_runs_the_schedule_when_enabled(digest_db, digest_settings, mail_server) -> None:
    handler, _ = mail_server
    with digest_db.transaction() as session:  # a confirmation queued while SMTP was down
        service.request_subscription(
            session, digest_settings, "queued@example.org", "daily", Interests()
        )
    settings = digest_settings.model_copy(update={"digest_schedule": True})
    with TestClient(create_app(settings, digest_db)):
        deadline = time.monotonic() + 20
        while not handler.to("queued@example.org"):
            assert time.monotonic() < deadline, "the schedule thread sent nothing"
            time.sleep(0.05)
    with digest_db.sessions() as session:
        assert outbox.counts(session) == {"sent": 1}
