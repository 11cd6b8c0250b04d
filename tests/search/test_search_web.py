"""Search on the site and in the JSON API: the page, the header box, the paper page's similar
papers, and the API through the real huggingface_hub client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import html
from sqlalchemy import event
from support.live_server import LiveServer
from support.search_corpus import embed_papers, import_october, make_home, search_settings

from paperfeed.search.indexer import update_indexes
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.paper_cache import PaperCache
from paperfeed.web.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "search"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, minilm) -> Iterator[tuple[Settings, Database]]:
    """The October 2025 lists, 16 papers embedded, indexes built."""
    home = make_home(tmp_path_factory.mktemp("search-web") / "home")
    db = Database(f"sqlite:///{home / 'paperfeed.db'}")
    import_october(db)
    embed_papers(db, minilm, 16)
    settings = search_settings(home, db.url)
    update_indexes(db, settings)
    yield settings, db
    db.close()


@pytest.fixture(scope="module")
def client(site) -> Iterator[TestClient]:
    settings, db = site
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


def _cards(page: str) -> list[str]:
    tree = html.fromstring(page)
    links = tree.xpath("//article[contains(@class, 'card')]//h2/a")
    return [a.get("href").removeprefix("/papers/") for a in links]


def test_search_page_shows_cards_with_a_why_line(client: TestClient) -> None:
    response = client.get("/search", params={"q": "StockBench trading agents"})

    assert response.status_code == 200
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "search.html").write_text(response.text)
    tree = html.fromstring(response.text)
    assert _cards(response.text)[0] == "2510.02209"
    why = tree.xpath("//p[@class='why']")
    assert len(why) == len(_cards(response.text))
    assert "matched: stockbench" in why[0].text_content().lower()
    header_box = "//header//form[@class='search']//input[@name='q']"
    assert tree.xpath(header_box)  # every page has the search box


def test_search_page_filters_and_paging(client: TestClient) -> None:
    nvidia = client.get("/search", params={"q": "video", "organization": "nvidia"})
    first = client.get("/search", params={"q": "language models"})
    second = client.get("/search", params={"q": "language models", "page": 2})

    assert nvidia.status_code == 200
    assert 0 < len(_cards(nvidia.text)) <= 4  # four of the papers are NVIDIA's
    assert "NVIDIA" in nvidia.text
    assert len(_cards(first.text)) == 20
    assert not set(_cards(first.text)) & set(_cards(second.text))
    assert 'rel="next"' in first.text
    assert client.get("/search", params={"q": "x", "from": "not-a-date"}).status_code == 422
    # Valid dates beyond what tantivy stores (1677-2262) are just very wide filters.
    ever = client.get("/search", params={"q": "video", "from": "0001-01-01", "to": "9999-12-31"})
    assert ever.status_code == 200
    assert _cards(ever.text) == _cards(client.get("/search", params={"q": "video"}).text)


@pytest.mark.parametrize(
    "query",
    ["<script>alert(1)</script>", '" AND (x OR', "'; DROP TABLE papers;--", "日本語", "w " * 5000],
)
def test_hostile_queries_on_the_page_and_the_api(client: TestClient, query: str) -> None:
    page = client.get("/search", params={"q": query})
    api = client.get("/api/papers/search", params={"q": query})

    assert page.status_code == 200 and api.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert isinstance(api.json(), list)


def test_empty_search_page(client: TestClient) -> None:
    response = client.get("/search")

    assert response.status_code == 200
    assert _cards(response.text) == []


def test_api_search_shape(client: TestClient) -> None:
    results = client.get("/api/papers/search", params={"q": "StockBench", "limit": 3}).json()

    assert 1 <= len(results) <= 3
    first = results[0]
    assert first["paper"]["id"] == "2510.02209"
    assert first["title"] == first["paper"]["title"]
    assert first["paper"]["authors"][0]["name"]
    assert "stockbench" in first["why"]
    assert client.get("/api/papers/search", params={"limit": 0}).status_code == 422


def test_api_similar_papers(client: TestClient) -> None:
    response = client.get("/api/papers/2509.24002/similar", params={"limit": 5})  # embedded

    assert response.status_code == 200
    ids = [item["paper"]["id"] for item in response.json()]
    assert len(ids) == 5 and "2509.24002" not in ids
    assert all("matched:" in item["why"] or "semantic" in item["why"] for item in response.json())
    missing = client.get("/api/papers/2406.99999/similar")
    assert missing.status_code == 404 and "error" in missing.json()
    assert client.get("/api/papers/2509.24002").json()["id"] == "2509.24002"  # still routed


def test_paper_page_lists_similar_papers(client: TestClient) -> None:
    page = client.get("/papers/2509.24002")

    tree = html.fromstring(page.text)
    links = [a.get("href") for a in tree.xpath("//section[contains(@class, 'similar')]//li/a")]
    assert len(links) == 8
    assert "/papers/2509.24002" not in links


def test_paper_page_lists_the_similar_papers_of_the_api_in_its_order(client: TestClient) -> None:
    page = client.get("/papers/2509.24002")
    api = client.get("/api/papers/2509.24002/similar", params={"limit": 8}).json()

    items = html.fromstring(page.text).xpath("//section[contains(@class, 'similar')]//li")
    shown = [
        (li.xpath("a")[0].get("href"), li.xpath("a")[0].text_content(), li.text_content())
        for li in items
    ]
    assert [href for href, _, _ in shown] == [f"/papers/{item['paper']['id']}" for item in api]
    assert [title for _, title, _ in shown] == [" ".join(item["title"].split()) for item in api]
    for (_, _, text), item in zip(shown, api, strict=True):
        semantic = re.search(r"semantic (-?\d\.\d\d)", item["why"])
        expected = [semantic.group(1)] if semantic else []
        assert re.findall(r"similarity (-?\d\.\d\d)", text) == expected
    assert "similarity" in page.text  # the embedded paper's neighbours have a cosine


def test_paper_page_reads_authors_of_its_own_paper_only(site) -> None:
    """Similar papers are listed by title: their whole records (authors, organization) and
    matched words are for the API, not worked out for every paper page."""
    settings, db = site
    with TestClient(create_app(settings.model_copy(update={"page_cache_mb": 0}), db)) as client:
        client.get("/papers/2509.24002")  # indexes, templates and the ranking ready
        statements: list[str] = []

        def listener(_conn, _cursor, statement, *_rest) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/papers/2509.24002").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert sum("paper_authors" in statement for statement in statements) == 1, statements


def test_search_api_reads_hits_with_their_listings_in_the_page_s_statements(site) -> None:
    """The API's hits carry their first daily listing: read with the papers, not after them."""
    settings, db = site
    statements: list[str] = []

    def listener(_conn, _cursor, statement, *_rest) -> None:
        if re.search(r"\b(papers|daily_entries|paper_authors|authors)\b", statement):
            statements.append(statement)

    counts = {}
    for path in ("/search", "/api/papers/search"):  # each with no papers kept yet
        db.papers = PaperCache()
        app = create_app(settings.model_copy(update={"page_cache_mb": 0}), db)
        with TestClient(app) as client:
            client.get(path, params={"q": "trading agents"})  # indexes and model ready
            statements.clear()
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                answer = client.get(path, params={"q": "language model agents"})
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            assert answer.status_code == 200
            counts[path] = len(statements)
            hits = client.get("/api/papers/search", params={"q": "language model agents"}).json()
    assert any("submittedOnDailyAt" in hit["paper"] for hit in hits)  # listings are there
    assert counts["/api/papers/search"] == counts["/search"], counts


@pytest.fixture(scope="module")
def server_url(site) -> Iterator[str]:
    """The site served by uvicorn on a free loopback port, in a background thread."""
    settings, db = site
    app = create_app(settings, db)
    with LiveServer(app) as server:
        yield server.url


def test_huggingface_hub_list_papers_searches_paperfeed(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    api = huggingface_hub.HfApi(endpoint=server_url, token=False)

    papers = list(api.list_papers(query="StockBench", limit=3))
    hostile = list(api.list_papers(query='"unbalanced AND (', limit=3))

    assert papers[0].id == "2510.02209"
    assert papers[0].title.startswith("StockBench")
    assert papers[0].authors and papers[0].authors[0].name
    assert papers[0].published_at is not None
    assert len(hostile) <= 3


def test_searches_are_rate_limited_per_address(site) -> None:
    """Audit finding: search had no rate limit (each query costs BM25 and a MiniLM embedding)."""
    settings, db = site
    limited = settings.model_copy(update={"rate_limits": {"search.addr": "3/1m"}})
    with TestClient(create_app(limited, db), client=("10.8.8.8", 1)) as client:
        statuses = [
            client.get("/api/papers/search", params={"q": "diffusion"}).status_code,
            client.get("/search", params={"q": "diffusion"}).status_code,
            client.get("/search").status_code,  # the empty form is no search
            client.get("/api/papers/search", params={"q": "agents"}).status_code,
            client.get("/search", params={"q": "agents"}).status_code,
        ]
        assert statuses == [200, 200, 200, 200, 429]
