"""scope=all: every paper first announced on arXiv in the period, next to the featured lists."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL, HF_API_DIR
from fastapi.testclient import TestClient
from support.files import arxiv_subset, hf_entries, hf_files

from paperfeed.ingest import arxiv_jsonl, hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app
from web.pages import card_ids, period_links

# The snapshot's first 2000 records: papers first announced 2025-03-18 .. 2025-03-28.
RECORDS = 2000


@pytest.fixture(scope="module")
def arxiv_records(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    target = tmp_path_factory.mktemp("arxiv") / "subset.jsonl.gz"
    return target, arxiv_subset(ARXIV_JSONL, target, RECORDS)


def _site(path: Path, hf: list[Path], arxiv: Path) -> Iterator[TestClient]:
    db = Database(f"sqlite:///{path}")
    if hf:
        assert hf_daily.import_paths(db, hf).ok
    assert arxiv_jsonl.import_file(db, arxiv).ok
    with TestClient(create_app(Settings(database_url=db.url), db)) as client:
        yield client
    db.close()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, arxiv_records) -> Iterator[TestClient]:
    """A site with the daily lists of March 2025 and the arXiv records."""
    path = tmp_path_factory.mktemp("mixed") / "paperfeed.db"
    yield from _site(path, hf_files(HF_API_DIR, "2025-03"), arxiv_records[0])


@pytest.fixture(scope="module")
def pure_arxiv(tmp_path_factory, arxiv_records) -> Iterator[TestClient]:
    """A site that imported arXiv records only, no daily list."""
    yield from _site(tmp_path_factory.mktemp("arxiv-only") / "paperfeed.db", [], arxiv_records[0])


def _announced(records: list[dict], day: str) -> set[str]:
    return {r["id"] for r in records if r["first_seen_date"] == day}


def test_scope_all_lists_every_paper_announced_that_day(mixed, arxiv_records) -> None:
    announced = _announced(arxiv_records[1], "2025-03-20")

    pages = [mixed.get(f"/papers/date/2025-03-20?scope=all&page={n}").text for n in range(1, 6)]

    assert f"{len(announced)} papers announced on arXiv" in pages[0]
    shown = [paper_id for page in pages for paper_id in card_ids(page)]
    assert sorted(shown) == sorted(announced)


def test_scope_all_puts_the_upvoted_featured_papers_first(mixed, arxiv_records) -> None:
    announced = _announced(arxiv_records[1], "2025-03-18")
    votes = {
        e["paper"]["id"]: e["paper"]["upvotes"]
        for e in hf_entries(hf_files(HF_API_DIR, "2025-03"))
        if e["paper"]["id"] in announced and e["paper"]["upvotes"] > 0
    }

    shown = card_ids(mixed.get("/papers/date/2025-03-18?scope=all").text)

    assert len(votes) < 50
    assert sorted(shown[: len(votes)]) == sorted(votes)
    assert [votes[i] for i in shown[: len(votes)]] == sorted(votes.values(), reverse=True)


def test_navigation_follows_the_scope(mixed) -> None:
    friday = mixed.get("/papers/date/2025-03-21?scope=all").text
    last_arxiv_day = mixed.get("/papers/date/2025-03-28?scope=all").text
    last_featured_week = mixed.get("/papers/date/2025-03-28").text

    assert period_links(friday)["next"] == "/papers/date/2025-03-24?scope=all"
    assert period_links(last_arxiv_day) == {"prev": "/papers/date/2025-03-27?scope=all"}
    assert period_links(last_featured_week)["next"] == "/papers/date/2025-03-31"


def test_featured_stays_the_default_where_daily_lists_exist(mixed) -> None:
    entries = json.loads((HF_API_DIR / "2025-03-20.json").read_text())

    page = mixed.get("/papers/date/2025-03-20").text

    assert sorted(card_ids(page)) == sorted(e["paper"]["id"] for e in entries)
    assert 'href="/papers/date/2025-03-20?scope=all"' in page


def test_a_site_without_daily_lists_shows_all_papers_by_default(pure_arxiv, arxiv_records):
    latest = _announced(arxiv_records[1], "2025-03-28")

    page = pure_arxiv.get("/").text

    assert "Friday, 28 March 2025" in page
    assert f"{len(latest)} papers announced on arXiv" in page
    assert set(card_ids(page)) <= latest
    assert period_links(page) == {"prev": "/papers/date/2025-03-27"}
    assert "scope=" not in page and ">Featured<" not in page
    assert pure_arxiv.get("/api/daily_papers").json() == []


def test_an_arxiv_record_shows_its_bibliographic_fields(mixed, arxiv_records) -> None:
    record = next(r for r in arxiv_records[1] if r["id"] == "2503.12271")

    page = mixed.get("/papers/2503.12271").text

    assert '<span class="cat primary">cs.CV</span>' in page
    assert f"<dd>{record['comments']}</dd>" in page
    assert 'Announced</dt><dd><time datetime="2025-03-18">18 Mar 2025' in page
    assert "primaryClass = {cs.CV}" in page
    featured = Counter(e["paper"]["id"] for e in hf_entries(hf_files(HF_API_DIR, "2025-03")))[
        "2503.12271"
    ]
    assert page.count('<a href="/papers/date/2025-03-') == featured
