"""Trending: the documented gravity score, over real daily lists, and where it is used."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.accounts import DAY_FILES, make_user
from support.files import hf_entries

from paperfeed.community import votes
from paperfeed.feed import feed_page, parse_period
from paperfeed.rank import trending
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


def _expected_order(day: str, gravity: float = 1.8) -> list[str]:
    """The documented formula, computed straight from Hugging Face's saved answer for `day`."""
    end_of_day = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
    scored = []
    for entry in hf_entries([HF_API_DIR / f"{day}.json"]):
        at = datetime.fromisoformat(entry["paper"]["submittedOnDailyAt"].replace("Z", "+00:00"))
        hours = (end_of_day - at).total_seconds() / 3600
        score = entry["paper"]["upvotes"] / (hours + 2) ** gravity
        scored.append((-score, -at.timestamp(), entry["paper"]["id"]))
    return [paper_id for *_key, paper_id in sorted(scored)]


def test_the_score_is_upvotes_over_age_plus_two_to_the_gravity() -> None:
    assert trending.score(10, 0) == pytest.approx(10 / 2**1.8)
    assert trending.score(100, 22, gravity=1.5) == pytest.approx(100 / 24**1.5)
    assert trending.score(5, -3) == trending.score(5, 0)  # a clock skew never boosts a paper
    assert trending.score(0, 1) == 0
    # A day-old paper needs about 8x the votes of a six-hour-old one to rank beside it.
    assert trending.score(835, 24) / trending.score(100, 6) == pytest.approx(1, abs=0.01)


def test_a_past_day_is_ranked_as_of_its_end_whenever_it_is_viewed(site_db: Database) -> None:
    period = parse_period("day", "2025-10-03")
    with site_db.sessions() as session:
        pages = [
            feed_page(session, period, sort="trending", page_size=100, now=now)
            for now in (datetime(2025, 10, 5, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
        ]
        by_votes = feed_page(session, period, sort="upvotes", page_size=100)
    ids = [[e.paper.arxiv_id for e in page.entries] for page in pages]
    assert ids[0] == ids[1] == _expected_order("2025-10-03")
    assert sorted(ids[0]) == sorted(e.paper.arxiv_id for e in by_votes.entries)
    assert ids[0] != [e.paper.arxiv_id for e in by_votes.entries]  # age matters, not votes alone


def test_the_api_sorts_by_trending_on_request_and_by_upvotes_by_default(site, site_db) -> None:
    client: TestClient = site()
    trending_ids = [e["paper"]["id"] for e in client.get(
        "/api/daily_papers", params={"date": "2025-10-03", "sort": "trending"}
    ).json()]  # fmt: skip
    default = client.get("/api/daily_papers", params={"date": "2025-10-03"}).json()

    assert trending_ids == _expected_order("2025-10-03")
    upvotes = [e["paper"]["upvotes"] for e in default]
    assert upvotes == sorted(upvotes, reverse=True)


def test_the_last_day_there_is_ranks_without_overflowing(site) -> None:
    client: TestClient = site()

    answer = client.get("/api/daily_papers", params={"date": "9999-12-31", "sort": "trending"})

    assert answer.status_code == 200 and answer.json() == []
    now = datetime(2025, 10, 3, 12, tzinfo=UTC)
    assert trending.reference_time(date.max, now) == now


def test_local_votes_lift_a_paper_on_the_trending_page(site, site_db: Database) -> None:
    client: TestClient = site()
    before = _trending_ids(client)
    last = before[-1]
    fans = [make_user(site_db, f"fan{n}") for n in range(3)]
    with site_db.transaction() as session:
        for fan in fans:
            votes.upvote(session, fan, last)
    after = _trending_ids(client)

    assert set(before) == {e["paper"]["id"] for e in hf_entries(DAY_FILES)}  # the 7-day window
    assert sorted(before) == sorted(after)
    assert after.index(last) < before.index(last)


CARD = re.compile(r'<article class="card">.*?<h2><a href="/papers/([^"]+)">', re.S)


def _trending_ids(client: TestClient) -> list[str]:
    """Every card of /trending, page after page (50 a page)."""
    ids: list[str] = []
    for number in (1, 2, 3):
        page = client.get("/trending", params={"page": number})
        assert page.status_code == 200
        ids += CARD.findall(page.text)
    return ids


def test_reference_time_is_now_for_a_running_day() -> None:
    now = datetime(2025, 10, 3, 12, tzinfo=UTC)
    assert trending.reference_time(date(2025, 10, 3), now) == datetime(2025, 10, 3, 12, tzinfo=UTC)
    assert trending.reference_time(date(2025, 10, 2), now) == datetime(2025, 10, 3, tzinfo=UTC)


def test_the_gravity_is_a_setting(site_db: Database, tmp_path) -> None:
    settings = Settings(database_url=site_db.url, home=tmp_path / "home", trending_gravity=0.5)
    with TestClient(create_app(settings, site_db)) as client:
        entries = client.get(
            "/api/daily_papers", params={"date": "2025-10-03", "sort": "trending"}
        ).json()
    assert [e["paper"]["id"] for e in entries] == _expected_order("2025-10-03", gravity=0.5)
    assert _expected_order("2025-10-03", gravity=0.5) != _expected_order("2025-10-03")


def test_feed_pages_offer_trending_beside_top_and_newest(site) -> None:
    client: TestClient = site()
    week = client.get("/papers/week/2025-W40?sort=trending")
    assert week.status_code == 200
    assert re.search(r'<a href="[^"]*sort=trending"[^>]*class="on">Trending</a>', week.text)
    assert '<a href="/papers/week/2025-W40" class="on">Top</a>' not in week.text
    ids = CARD.findall(week.text)
    with_votes = client.get("/papers/week/2025-W40").text
    assert len(ids) == len(CARD.findall(with_votes)) == 50  # a first page of each order
    assert ids != CARD.findall(with_votes)
    every_paper = client.get("/papers/month/2025-10?scope=all&sort=trending")
    assert every_paper.status_code == 200
