"""Organization and author pages: their papers and counts from the real daily lists."""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_entries, hf_files

from paperfeed.domain import normalize_name
from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app
from web.conftest import FEED_FILES
from web.pages import card_ids, page_links


def _papers(files=FEED_FILES) -> dict[str, dict]:
    """Each paper as the store keeps it: the latest capture's fields, the largest upvote count."""
    papers: dict[str, dict] = {}
    for entry in hf_entries(files):  # files are in day order
        paper = dict(entry["paper"])
        paper["organization"] = paper.get("organization") or entry.get("organization")
        seen = papers.get(paper["id"])
        paper["upvotes"] = max(paper["upvotes"], seen["upvotes"] if seen else 0)
        papers[paper["id"]] = paper
    return papers


def _by_organization(papers: dict[str, dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for paper in papers.values():
        if paper["organization"]:
            found[paper["organization"]["name"]].append(paper)
    return found


def _by_author(papers: dict[str, dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for paper in papers.values():
        for key in {normalize_name(a["name"]) for a in paper["authors"]}:
            found[key].append(paper)
    return found


def _counts(page: str) -> list[str]:
    return re.findall(r'<span class="stat">([^<]+)</span>', page)


def test_the_organization_index_lists_organizations_by_paper_count(client: TestClient) -> None:
    orgs = _by_organization(_papers())

    first, second = client.get("/orgs"), client.get("/orgs?page=2")  # 50 a page

    assert first.status_code == second.status_code == 200
    assert f"{len(orgs)} organizations with papers" in first.text
    assert page_links(first.text) == ["/orgs?page=2", "/orgs?page=2"]
    rows = [
        row
        for page in (first, second)
        for row in re.findall(
            r'<td><a href="/orgs/([^"]+)">.*?</td>\s*<td class="num">(\d+)</td>\s*'
            r'<td class="num">(\d+)</td>',
            page.text,
            re.S,
        )
    ]
    assert len(rows) == len(orgs) > 50
    shown = {name: (int(count), int(votes)) for name, count, votes in rows}
    assert shown == {
        quote(name): (len(papers), sum(p["upvotes"] for p in papers))
        for name, papers in orgs.items()
    }
    counts = [int(count) for _name, count, _votes in rows]
    assert counts == sorted(counts, reverse=True)
    assert rows[0][0] == "nvidia"  # 4 papers in the first week of October 2025


def test_an_organization_page_lists_its_papers_with_counts(client: TestClient) -> None:
    papers = _by_organization(_papers())["ByteDance-Seed"]
    votes = {p["id"]: p["upvotes"] for p in papers}

    page = client.get("/orgs/ByteDance-Seed")

    assert page.status_code == 200
    assert "<h1>" in page.text and "ByteDance Seed</h1>" in page.text  # the full name
    assert _counts(page.text) == [f"{len(papers)} papers", f"{sum(votes.values())} upvotes"]
    ids = card_ids(page.text)
    assert sorted(ids) == sorted(votes)
    assert [votes[i] for i in ids] == sorted(votes.values(), reverse=True)


def test_newest_sorts_an_organization_by_publication(client: TestClient) -> None:
    papers = _by_organization(_papers())["nvidia"]
    newest = sorted(papers, key=lambda p: p["publishedAt"], reverse=True)

    page = client.get("/orgs/nvidia?sort=newest")

    assert page.status_code == 200
    assert card_ids(page.text) == [p["id"] for p in newest]
    assert '<a href="/orgs/nvidia?sort=newest" class="on">Newest</a>' in page.text


def test_cards_and_paper_pages_link_organizations_and_authors(client: TestClient) -> None:
    paper = _papers()["2510.02283"]  # ByteDance Seed

    day = client.get("/papers/date/2025-10-03").text
    start = day.rindex("<article", 0, day.index('href="/papers/2510.02283"'))
    card = day[start:].split("</article>")[0]
    detail = client.get("/papers/2510.02283").text

    for page in (card, detail):
        assert 'href="/orgs/ByteDance-Seed">ByteDance Seed</a>' in page
        first = paper["authors"][0]["name"]
        assert f'href="/authors/{quote(first)}">{html.escape(first)}</a>' in page
    author = client.get(f"/authors/{quote(paper['authors'][0]['name'])}")
    assert author.status_code == 200
    assert "2510.02283" in card_ids(author.text)


def test_an_author_page_lists_every_paper_under_any_spelling(client: TestClient) -> None:
    papers = _by_author(_papers())
    key = normalize_name("Dilek Hakkani-Tür")
    expected = {p["id"] for p in papers[key]}
    spellings = {
        a["name"] for p in papers[key] for a in p["authors"] if normalize_name(a["name"]) == key
    }
    assert spellings == {"Dilek Hakkani-Tür", "Dilek Hakkani-Tur"}  # the data spells it both ways

    pages = [
        client.get(f"/authors/{quote(name)}") for name in ("Dilek Hakkani-Tür", "dilek HAKKANI-TUR")
    ]

    for page in pages:
        assert page.status_code == 200
        assert set(card_ids(page.text)) == expected
        heading = html.unescape(re.search(r"<h1>(.*?)</h1>", page.text).group(1))
        assert heading in spellings  # a spelling the papers use, never the URL's
        votes = sum(p["upvotes"] for p in papers[key])
        assert _counts(page.text) == [f"{len(expected)} papers", f"{votes} upvotes"]


def test_an_author_with_many_papers_is_paginated_like_the_feed(feed_db: Database) -> None:
    papers = _by_author(_papers())[normalize_name("Xinchao Wang")]
    votes = {p["id"]: p["upvotes"] for p in papers}
    settings = Settings(database_url=feed_db.url, page_size=4, site_name="paperfeed")

    with TestClient(create_app(settings, feed_db)) as small:
        first = small.get("/authors/Xinchao%20Wang")
        pages = [first, *(small.get(f"/authors/Xinchao%20Wang?page={n}") for n in (2, 3))]
        beyond = small.get("/authors/Xinchao%20Wang?page=9")

    shown = [paper_id for page in pages for paper_id in card_ids(page.text)]
    assert len(papers) == 11 and len(shown) == 11
    assert sorted(shown) == sorted(votes)
    assert [votes[i] for i in shown] == sorted(votes.values(), reverse=True)
    assert page_links(first.text) == [
        "/authors/Xinchao%20Wang?page=2",
        "/authors/Xinchao%20Wang?page=3",
        "/authors/Xinchao%20Wang?page=2",
    ]
    assert beyond.status_code == 200
    assert card_ids(beyond.text) == [] and "this list has 3 pages" in beyond.text


@pytest.mark.parametrize(
    "path", ["/orgs/no-such-org", "/authors/Nobody%20Atall", "/authors/%20", "/orgs/nvidia?page=0"]
)
def test_unknown_names_and_bad_pages_are_refused(client: TestClient, path: str) -> None:
    page = client.get(path)

    assert page.status_code in (404, 422)
    assert page.headers["content-type"].startswith("text/html")
    if "page=0" not in path:
        assert page.status_code == 404 and "no " in page.text.lower()


@pytest.fixture
def both_clients(db: Database) -> Iterator[TestClient]:
    hf_daily.import_paths(db, hf_files(HF_API_DIR, "2025-10-0"))
    with TestClient(create_app(Settings(database_url=db.url), db)) as client:
        yield client


def test_organization_and_author_pages_agree_on_both_databases(both_clients: TestClient) -> None:
    papers = _papers(hf_files(HF_API_DIR, "2025-10-0"))
    orgs = _by_organization(papers)
    authors = _by_author(papers)
    top = Counter({name: len(found) for name, found in orgs.items()}).most_common(1)[0][0]

    index = both_clients.get("/orgs")
    org = both_clients.get(f"/orgs/{top}")
    key, written = max(authors.items(), key=lambda item: (len(item[1]), item[0]))
    name = next(a["name"] for a in written[0]["authors"] if normalize_name(a["name"]) == key)
    author = both_clients.get(f"/authors/{quote(name)}")

    assert index.status_code == org.status_code == author.status_code == 200
    assert f"{len(orgs)} organizations" in index.text
    assert sorted(card_ids(org.text)) == sorted(p["id"] for p in orgs[top])
    assert len(written) > 1
    assert sorted(card_ids(author.text)) == sorted(p["id"] for p in written)


def test_the_json_api_lists_organization_and_author_papers(client: TestClient) -> None:
    papers = _papers()
    nvidia = _by_organization(papers)["nvidia"]
    written = _by_author(papers)[normalize_name("Xinchao Wang")]
    votes = {p["id"]: p["upvotes"] for p in written}

    org = client.get("/api/organizations/nvidia/papers?sort=newest")
    first = client.get("/api/authors/xinchao%20WANG/papers?limit=6")
    rest = client.get("/api/authors/Xinchao%20Wang/papers?limit=6&p=1")
    unknown = client.get("/api/organizations/no-such-org/papers")

    newest = sorted(nvidia, key=lambda p: p["publishedAt"], reverse=True)
    assert [p["id"] for p in org.json()] == [p["id"] for p in newest]
    assert org.json()[0]["title"] == newest[0]["title"]
    assert org.json()[0]["organization"]["name"] == "nvidia"
    shown = [p["id"] for p in first.json() + rest.json()]
    assert len(first.json()) == 6 and sorted(shown) == sorted(votes)
    assert [votes[i] for i in shown] == sorted(votes.values(), reverse=True)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no organization named 'no-such-org'"}
