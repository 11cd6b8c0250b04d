"""The feed pages: the latest day, a day, a week and a month of real daily lists."""

from __future__ import annotations

import html
import json
from datetime import date

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_entries, hf_files

from web.pages import card_ids, card_titles, page_links, period_links


def _file(day: str) -> list[dict]:
    return json.loads((HF_API_DIR / f"{day}.json").read_text())


def _upvotes(entries: list[dict]) -> dict[str, int]:
    return {e["paper"]["id"]: e["paper"]["upvotes"] for e in entries}


def test_home_and_papers_show_the_latest_day_with_papers(client: TestClient) -> None:
    latest = _file("2025-10-09")  # the last file in the test database

    for path in ("/", "/papers"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Thursday, 9 October 2025" in page.text
        assert card_ids(page.text) == [e["paper"]["id"] for e in latest]
        assert period_links(page.text) == {"prev": "/papers/date/2025-10-08"}


def test_a_day_lists_the_papers_of_its_file_most_upvoted_first(client: TestClient) -> None:
    entries = _file("2025-06-10")

    page = client.get("/papers/date/2025-06-10")

    assert page.status_code == 200
    assert "Tuesday, 10 June 2025" in page.text
    assert f"{len(entries)} papers featured" in page.text
    ids = card_ids(page.text)
    assert sorted(ids) == sorted(e["paper"]["id"] for e in entries)
    votes = _upvotes(entries)
    assert [votes[i] for i in ids] == sorted(votes.values(), reverse=True)
    assert ids[0] == "2506.08007"  # Reinforcement Pre-Training, 97 upvotes
    # Titles are shown with the line breaks of the data collapsed.
    titles = {e["paper"]["id"]: " ".join(e["paper"]["title"].split()) for e in entries}
    assert card_titles(page.text) == [titles[i] for i in ids]


def test_a_card_shows_authors_organization_date_votes_and_a_short_abstract(
    client: TestClient,
) -> None:
    entry = next(e for e in _file("2025-10-03") if e["paper"].get("organization"))
    paper = entry["paper"]

    page = client.get("/papers/date/2025-10-03").text
    start = page.rindex("<article", 0, page.index(f'href="/papers/{paper["id"]}"'))
    card = page[start:].split("</article>")[0]

    assert paper["organization"]["fullname"] in card
    assert paper["authors"][0]["name"] in card
    if len(paper["authors"]) > 5:
        assert f"+{len(paper['authors']) - 4} more" in card
    assert "3 Oct 2025" in card
    assert f'<span class="count">{paper["upvotes"]}</span>' in card
    shown = html.unescape(card.split('<p class="abstract">')[1].split("</p>")[0])
    assert shown.endswith("\u2026") and len(shown) <= 301
    assert " ".join(paper["summary"].split()).startswith(shown[:-1])


def test_next_after_a_friday_is_monday_and_previous_of_a_monday_is_friday(
    client: TestClient,
) -> None:
    friday = client.get("/papers/date/2025-06-13").text
    monday = client.get("/papers/date/2025-06-16").text

    assert period_links(friday)["next"] == "/papers/date/2025-06-16"
    assert period_links(monday)["prev"] == "/papers/date/2025-06-13"


def test_a_saturday_has_no_papers_and_links_to_the_days_around_it(client: TestClient) -> None:
    page = client.get("/papers/date/2025-06-14")

    assert page.status_code == 200
    assert card_ids(page.text) == []
    assert "No papers featured on Saturday, 14 June 2025" in page.text
    assert period_links(page.text) == {
        "prev": "/papers/date/2025-06-13",
        "next": "/papers/date/2025-06-16",
    }


def test_an_iso_week_lists_its_five_days_of_papers(client: TestClient) -> None:
    entries = hf_entries([HF_API_DIR / f"2025-06-{d:02d}.json" for d in range(9, 14)])

    page = client.get("/papers/week/2025-W24")

    assert page.status_code == 200
    assert "Week 24, 2025" in page.text and "9 \u2013 15 June 2025" in page.text
    assert f"{len(entries)} papers featured" in page.text
    ids = card_ids(page.text)
    assert len(ids) == 50  # the first page
    votes = _upvotes(entries)
    assert [votes[i] for i in ids] == sorted(votes.values(), reverse=True)[:50]
    assert period_links(page.text) == {
        "prev": "/papers/week/2025-W23",
        "next": "/papers/week/2025-W25",
    }


def test_navigation_skips_months_without_papers(client: TestClient) -> None:
    july = client.get("/papers/month/2025-07").text

    assert period_links(july) == {
        "prev": "/papers/month/2025-06",
        "next": "/papers/month/2025-10",
    }


def test_a_month_pages_through_every_featured_paper_once(client: TestClient) -> None:
    entries = hf_entries(hf_files(HF_API_DIR, "2025-06"))
    votes = _upvotes(entries)

    first = client.get("/papers/month/2025-06").text
    assert f"{len(entries)} papers featured" in first
    assert period_links(first) == {
        "prev": "/papers/month/2025-05",
        "next": "/papers/month/2025-07",
    }
    pages = -(-len(entries) // 50)
    assert page_links(first)[-2] == f"/papers/month/2025-06?page={pages}"  # last, then Next
    shown: list[str] = []
    for number in range(1, pages + 1):
        shown += card_ids(client.get(f"/papers/month/2025-06?page={number}").text)

    assert sorted(shown) == sorted(votes)
    assert [votes[i] for i in shown] == sorted(votes.values(), reverse=True)


def test_newest_first_sorts_by_publication_and_links_keep_the_sort(client: TestClient) -> None:
    entries = _file("2025-06-10")
    published = {e["paper"]["id"]: e["paper"]["publishedAt"] for e in entries}

    page = client.get("/papers/date/2025-06-10?sort=newest").text

    ids = card_ids(page)
    assert [published[i] for i in ids] == sorted(published.values(), reverse=True)
    assert period_links(page) == {
        "prev": "/papers/date/2025-06-09?sort=newest",
        "next": "/papers/date/2025-06-11?sort=newest",
    }
    assert 'href="/papers/week/2025-W24?sort=newest"' in page


def test_a_page_past_the_end_says_so(client: TestClient) -> None:
    page = client.get("/papers/date/2025-06-10?page=9")

    assert page.status_code == 200
    assert card_ids(page.text) == []
    assert "No papers on page 9" in page.text


def test_day_week_and_month_tabs_link_to_the_periods_around_the_page(client: TestClient) -> None:
    page = client.get("/papers/date/2025-06-10").text

    assert 'href="/papers/week/2025-W24"' in page
    assert 'href="/papers/month/2025-06"' in page


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/papers/date/2025-02-30", "not a valid day"),
        ("/papers/date/10-06-2025", "write it as YYYY-MM-DD"),
        ("/papers/date/20250610", "write it as YYYY-MM-DD"),
        ("/papers/week/2025-W53", "not a valid week"),  # 2025 has 52 ISO weeks
        ("/papers/week/2025-24", "YYYY-Www"),
        ("/papers/month/2025-13", "not a valid month"),
        ("/papers/month/June", "YYYY-MM"),
        ("/papers/date/2025-06-10?sort=best", "sort"),
        ("/papers/date/2025-06-10?scope=everything", "scope"),
        ("/papers?page=0", "page"),
        ("/papers?page=two", "page"),
    ],
)
def test_a_malformed_period_or_parameter_is_a_422_page(
    client: TestClient, path: str, message: str
) -> None:
    page = client.get(path)

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "Invalid request" in page.text
    assert message in page.text


def test_an_unknown_address_is_a_404_page(client: TestClient) -> None:
    page = client.get("/no/such/page")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text


def test_the_stylesheet_is_served(client: TestClient) -> None:
    css = client.get("/static/style.css")

    assert css.status_code == 200
    assert ".card" in css.text


def test_every_featured_day_of_june_renders(client: TestClient) -> None:
    for file in hf_files(HF_API_DIR, "2025-06"):
        day = date.fromisoformat(file.stem)
        page = client.get(f"/papers/date/{day}")
        assert page.status_code == 200
        assert len(card_ids(page.text)) == len(json.loads(file.read_text()))
