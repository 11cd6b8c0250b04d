"""Hostile text in paper data shows as text: markup, LaTeX and links are never interpreted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from paperfeed.domain import Author, DailyEntry, Organization, Paper, Submitter
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.writer import save_daily_entries
from paperfeed.web.app import create_app

# The one invented record of the test suite: text written to break pages that trust their data.
HOSTILE = DailyEntry(
    day=date(2025, 6, 10),
    paper=Paper(
        arxiv_id="2506.99999",
        title="<script>alert(1)</script> Bounds for\n  $x<y$ & \\alpha {unbalanced",
        abstract="We prove $x<y$ & \\alpha.\n<img src=x onerror=alert(2)> " + "word " * 80,
        authors=[Author(name="<b>Mallory</b>"), Author(name="O'Brien & Sons")],
        published_at=datetime(2025, 6, 9, 12, 0, tzinfo=UTC),
        organization=Organization(name="evil", fullname="<i>Evil Corp</i>"),
        github_repo="javascript:alert(3)",
        project_page="https://example.org/?a=1&b=<2>",
        upvotes=3,
        source="hf",
    ),
    submitted_by=Submitter(username="mallory", fullname="<u>Mallory</u>"),
    submitted_at=datetime(2025, 6, 10, 1, 0, tzinfo=UTC),
)


@pytest.fixture
def hostile_client(sqlite_db: Database) -> Iterator[TestClient]:
    with sqlite_db.transaction() as session:
        save_daily_entries(session, [HOSTILE])
    with TestClient(create_app(Settings(database_url=sqlite_db.url), sqlite_db)) as client:
        yield client


@pytest.mark.parametrize("path", ["/papers/date/2025-06-10", "/papers/2506.99999"])
def test_markup_in_titles_abstracts_and_names_is_shown_as_text(
    hostile_client: TestClient, path: str
) -> None:
    page = hostile_client.get(path)

    assert page.status_code == 200
    for raw in ("<script>", "<img", "<b>Mallory", "<i>Evil", "<u>Mallory"):
        assert raw not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bounds for $x&lt;y$ &amp; \\alpha" in page.text
    assert "We prove $x&lt;y$ &amp; \\alpha. &lt;img src=x onerror=alert(2)&gt;" in page.text
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in page.text
    assert "O&#39;Brien &amp; Sons" in page.text
    assert "&lt;i&gt;Evil Corp&lt;/i&gt;" in page.text


def test_only_http_links_from_data_become_links(hostile_client: TestClient) -> None:
    page = hostile_client.get("/papers/2506.99999").text

    assert "javascript:" not in page
    assert 'href="https://example.org/?a=1&amp;b=&lt;2&gt;"' in page


def test_bibtex_of_hostile_text_is_escaped_for_html_and_balanced_for_bibtex(
    hostile_client: TestClient,
) -> None:
    page = hostile_client.get("/papers/2506.99999").text

    assert (
        "title = {&lt;script&gt;alert(1)&lt;/script&gt; Bounds for $x&lt;y$ &amp; \\alpha "
        "\\textbraceleft{}unbalanced}," in page
    )


def test_the_api_returns_the_text_exactly_as_stored(hostile_client: TestClient) -> None:
    paper = hostile_client.get("/api/papers/2506.99999").json()

    assert paper["title"] == HOSTILE.paper.title
    assert paper["summary"] == HOSTILE.paper.abstract
    assert hostile_client.get("/api/papers/2506.99999").headers["content-type"] == (
        "application/json"
    )
