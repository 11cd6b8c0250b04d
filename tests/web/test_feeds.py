"""RSS and Atom feeds read with feedparser: daily list, trending, an organization, an author."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import feedparser
import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient

from paperfeed.domain import Author, DailyEntry, Organization, Paper, normalize_name
from paperfeed.rank import trending
from paperfeed.settings import Settings
from paperfeed.store import writer
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

FORMS = ["rss", "atom"]
MEDIA = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
SITE = "http://testserver"


def _file(day: str) -> list[dict]:
    return json.loads((HF_API_DIR / f"{day}.json").read_text())


def _read(client: TestClient, path: str) -> feedparser.FeedParserDict:
    """Fetch a feed and parse it as a feed reader would; it must be well-formed."""
    response = client.get(path)
    assert response.status_code == 200, path
    form = "atom" if path.endswith(".atom") else "rss"
    assert response.headers["content-type"] == f"{MEDIA[form]}; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == ("atom10" if form == "atom" else "rss20")
    return feed


def _ids(feed: feedparser.FeedParserDict) -> list[str]:
    """The arXiv ids of the entries, read from their links to the local paper pages."""
    prefix = f"{SITE}/papers/"
    assert all(entry.link.startswith(prefix) for entry in feed.entries)
    return [entry.link.removeprefix(prefix) for entry in feed.entries]


@pytest.mark.parametrize("form", FORMS)
def test_the_daily_feed_carries_the_latest_list_most_upvoted_first(
    client: TestClient, form: str
) -> None:
    entries = _file("2025-10-09")  # the latest list in the test database
    by_id = {e["paper"]["id"]: e for e in entries}

    feed = _read(client, f"/papers/feed.{form}")

    assert feed.feed.title == "paperfeed: daily papers"
    assert feed.feed.link == f"{SITE}/papers"
    ids = _ids(feed)
    assert sorted(ids) == sorted(by_id)
    votes = [by_id[i]["paper"]["upvotes"] for i in ids]
    assert votes == sorted(votes, reverse=True)
    for entry in feed.entries:
        paper = by_id[entry.link.rsplit("/", 1)[1]]["paper"]
        assert entry.title == " ".join(paper["title"].split())
        assert entry.id == f"https://arxiv.org/abs/{paper['id']}"
        listed = datetime.fromisoformat(paper["submittedOnDailyAt"].replace("Z", "+00:00"))
        when = entry.published_parsed if form == "rss" else entry.updated_parsed
        assert when[:6] == listed.utctimetuple()[:6]
        assert " ".join(paper["summary"].split()).startswith(entry.summary[:200])
        # feedparser reads every RSS dc:creator and every Atom author into `authors`.
        assert [a["name"] for a in entry.authors] == [a["name"] for a in paper["authors"]]


@pytest.mark.parametrize("form", FORMS)
def test_the_trending_feed_ranks_the_last_week_of_lists(client: TestClient, form: str) -> None:
    last = date(2025, 10, 9)  # the latest list; the week before it is ranked at its end
    at = datetime(2025, 10, 10, tzinfo=UTC)
    scored: list[tuple[float, str]] = []
    for day in (last - timedelta(days=n) for n in range(7)):
        path = HF_API_DIR / f"{day.isoformat()}.json"
        for entry in json.loads(path.read_text()) if path.exists() else []:
            paper = entry["paper"]
            listed = datetime.fromisoformat(paper["submittedOnDailyAt"].replace("Z", "+00:00"))
            age_hours = (at - listed).total_seconds() / 3600
            scored.append((trending.score(paper["upvotes"], age_hours), paper["id"]))
    expected: list[str] = []
    for _score, paper_id in sorted(scored, reverse=True):
        if paper_id not in expected:
            expected.append(paper_id)

    feed = _read(client, f"/trending/feed.{form}")

    assert feed.feed.title == "paperfeed: trending papers"
    assert _ids(feed) == expected[:50]


@pytest.mark.parametrize("form", FORMS)
def test_organization_and_author_feeds_list_their_newest_papers(
    client: TestClient, form: str
) -> None:
    org_page = client.get("/orgs/nvidia?sort=newest").text
    expected = re.findall(r'<article class="card">.*?<a href="/papers/([^"]+)">', org_page, re.S)
    author = "Xinchao Wang"
    author_page = client.get(f"/authors/{quote(author)}?sort=newest").text
    written = re.findall(r'<article class="card">.*?<a href="/papers/([^"]+)">', author_page, re.S)

    org_feed = _read(client, f"/orgs/nvidia/feed.{form}")
    author_feed = _read(client, f"/authors/{quote(author)}/feed.{form}")

    assert _ids(org_feed) == expected and len(expected) == 4
    assert org_feed.feed.title == "paperfeed: papers from NVIDIA"
    assert _ids(author_feed) == written and len(written) == 11
    assert author_feed.feed.link == f"{SITE}/authors/Xinchao%20Wang"
    dates = [entry.published_parsed for entry in author_feed.entries]
    assert all(dates) and dates == sorted(dates, reverse=True)
    for entry in author_feed.entries:
        if form == "atom":
            assert normalize_name(author) in {normalize_name(a["name"]) for a in entry.authors}


@pytest.mark.parametrize(
    "path", ["/orgs/no-such-org/feed.atom", "/authors/Nobody%20Atall/feed.rss"]
)
def test_feeds_of_unknown_names_are_not_found(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("page", "own"),
    [
        ("/papers", None),
        ("/papers/date/2025-06-10", None),
        ("/papers/month/2025-06?sort=newest", None),
        ("/orgs", None),
        ("/orgs/nvidia", "/orgs/nvidia/feed"),
        ("/authors/Xinchao%20Wang", "/authors/Xinchao%20Wang/feed"),
    ],
)
def test_list_pages_advertise_their_feeds_in_the_head(
    client: TestClient, page: str, own: str | None
) -> None:
    head = client.get(page).text.split("</head>")[0]
    links = re.findall(r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">', head)

    expected = {(MEDIA["rss"], "/papers/feed.rss"), (MEDIA["atom"], "/papers/feed.atom")}
    expected |= {(MEDIA["rss"], "/trending/feed.rss"), (MEDIA["atom"], "/trending/feed.atom")}
    if own:
        expected |= {(MEDIA["rss"], f"{own}.rss"), (MEDIA["atom"], f"{own}.atom")}
        assert links[:2] == [(MEDIA["rss"], f"{own}.rss"), (MEDIA["atom"], f"{own}.atom")]
    assert set(links) == expected
    for _media, href in links:  # every advertised feed is there and parses
        assert _read(client, href).entries


def _plain(detail: feedparser.FeedParserDict) -> str:
    """What a reader shows of a title or summary: HTML (RSS) must hold no markup at all."""
    if detail.type == "text/html":
        assert "<" not in detail.value, detail.value  # every character came through as text
        return html.unescape(detail.value)
    return detail.value


def test_hostile_text_is_carried_as_text_and_links_use_the_base_url(sqlite_db: Database) -> None:
    """Audit finding: RSS titles and descriptions were escaped once, so readers took the
    paper's `<b>` as markup (feedparser dropped the script and bolded the rest)."""
    title = 'A <script>alert("t")</script> & <b>bold</b> \x0b\x01model'
    paper = Paper(
        arxiv_id="2510.99999",
        title=title,
        abstract="We show x < y & y > z, <b>bold</b> <script>s()</script> &amp;.\x0c",
        authors=[Author(name="<img src=x onerror=alert(1)>"), Author(name="Zoë O'Brien")],
        categories=["cs.LG"],
        organization=Organization(name="evil&co", fullname="Evil <i>Co</i>"),
        published_at=datetime(2025, 10, 8, 12, 0),
    )
    with sqlite_db.transaction() as session:
        writer.save_daily_entries(session, [DailyEntry(day=date(2025, 10, 9), paper=paper)])
    settings = Settings(database_url=sqlite_db.url, base_url="https://papers.example.org/")

    with TestClient(create_app(settings, sqlite_db)) as client:
        feeds = [
            _read(client, path)
            for form in FORMS
            for path in (f"/papers/feed.{form}", f"/orgs/evil%26co/feed.{form}")
        ]

    for feed in feeds:
        (entry,) = feed.entries
        assert _plain(entry.title_detail) == 'A <script>alert("t")</script> & <b>bold</b> model'
        assert entry.link == "https://papers.example.org/papers/2510.99999"
        assert _plain(entry.summary_detail) == (
            "We show x < y & y > z, <b>bold</b> <script>s()</script> &amp;."
        )
    org_feed = feeds[1]
    assert _plain(org_feed.feed.title_detail) == "paperfeed: papers from Evil <i>Co</i>"
    assert org_feed.feed.link == "https://papers.example.org/orgs/evil%26co"


def test_the_host_header_never_decides_feed_links(sqlite_db: Database) -> None:
    """Audit finding: with base_url unset, a request's Host header chose every link in a feed
    (which caches and aggregators then serve to everyone)."""
    paper = Paper(arxiv_id="2510.99998", title="T", categories=["cs.LG"])
    with sqlite_db.transaction() as session:
        writer.save_daily_entries(session, [DailyEntry(day=date(2025, 10, 9), paper=paper)])
    settings = Settings(database_url=sqlite_db.url, host="127.0.0.1", port=8123)
    with TestClient(create_app(settings, sqlite_db)) as client:
        for form in FORMS:
            response = client.get(f"/papers/feed.{form}", headers={"Host": "evil.example"})
            assert b"evil.example" not in response.content
            feed = feedparser.parse(response.content)
            assert feed.entries[0].link == "http://127.0.0.1:8123/papers/2510.99998"


def test_an_empty_site_serves_valid_empty_feeds(sqlite_db: Database) -> None:
    with TestClient(create_app(Settings(database_url=sqlite_db.url), sqlite_db)) as client:
        feeds = [
            _read(client, f"/{name}/feed.{form}")
            for name in ("papers", "trending")
            for form in FORMS
        ]

    assert [len(feed.entries) for feed in feeds] == [0, 0, 0, 0]
    assert all(feed.feed.title.startswith("paperfeed: ") for feed in feeds)


def test_the_trending_feed_follows_the_sites_trending_settings(feed_db: Database) -> None:
    """PAPERFEED_TRENDING_DAYS and _GRAVITY shape the feed as they shape the /trending page."""
    settings = Settings(
        database_url=feed_db.url, page_size=50, trending_days=2, trending_gravity=0.3,
        base_url=SITE,
    )  # fmt: skip
    with TestClient(create_app(settings, feed_db)) as client:
        feed = _read(client, "/trending/feed.atom")
        page = client.get("/trending").text
    on_page = re.findall(r'<h2><a href="/papers/([^"]+)"', page)
    two_days = {e["paper"]["id"] for day in ("2025-10-08", "2025-10-09") for e in _file(day)}
    assert "last 2 days" in feed.feed.subtitle
    assert set(_ids(feed)) <= two_days and len(_ids(feed)) == 50
    assert _ids(feed) == on_page
