"""The feed service: pages of a period with totals and navigation, and one paper's record."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import HF_API_DIR
from support.files import hf_entries, hf_files

from paperfeed.domain import PaperNotFound
from paperfeed.feed import (
    Period,
    default_scope,
    feed_page,
    latest_period,
    paper_detail,
    parse_period,
)
from paperfeed.ingest import hf_daily
from paperfeed.store.db import Database

# The daily lists of the first half of June 2025.
JUNE_FILES = [f for f in hf_files(HF_API_DIR, "2025-06") if f.stem <= "2025-06-13"]


@pytest.fixture
def june(sqlite_db: Database) -> Database:
    assert hf_daily.import_paths(sqlite_db, JUNE_FILES).ok
    return sqlite_db


def test_a_site_with_daily_lists_defaults_to_featured_papers(june: Database) -> None:
    with june.sessions() as session:
        assert default_scope(session) == "featured"


def test_an_empty_site_has_no_period_and_no_items(sqlite_db: Database) -> None:
    with sqlite_db.sessions() as session:
        assert default_scope(session) == "all"
        page = feed_page(session, None)

    assert page.period is None and page.items == [] and page.total == 0 and page.pages == 1


def test_without_a_period_the_page_is_the_latest_day(june: Database) -> None:
    with june.sessions() as session:
        page = feed_page(session, None)
        assert latest_period(session, "week", "featured") == parse_period("week", "2025-W24")

    assert page.period == Period.containing("day", date(2025, 6, 13))
    assert page.previous == Period.containing("day", date(2025, 6, 12))
    assert page.next is None


def test_a_week_page_has_its_total_one_page_of_items_and_its_neighbours(june: Database) -> None:
    entries = hf_entries(hf_files(HF_API_DIR, "2025-06-1")[:4])  # 10 .. 13 June
    entries += json.loads((HF_API_DIR / "2025-06-09.json").read_text())

    with june.sessions() as session:
        page = feed_page(session, parse_period("week", "2025-W24"), page=2, page_size=20)

    assert page.total == len(entries) and page.pages == -(-len(entries) // 20)
    assert len(page.items) == 20 and len(page.entries) == 20
    assert all(item.entry is not None and item.day == item.entry.day for item in page.items)
    assert page.previous == parse_period("week", "2025-W23")
    assert page.next is None


def test_pages_are_ordered_and_together_hold_every_entry(june: Database) -> None:
    with june.sessions() as session:
        period = parse_period("month", "2025-06")
        pages = [feed_page(session, period, page=n, page_size=40) for n in range(1, 7)]
        newest = feed_page(session, period, sort="newest", page_size=500)

    upvotes = [item.paper.upvotes for page in pages for item in page.items]
    assert pages[0].total == len(hf_entries(JUNE_FILES)) == len(upvotes)
    assert pages[0].pages == 6
    assert upvotes == sorted(upvotes, reverse=True)
    published = [item.paper.published_at for item in newest.items]
    assert published == sorted(published, reverse=True)


def test_submitter_filters_the_entries(june: Database) -> None:
    with june.sessions() as session:
        page = feed_page(session, parse_period("day", "2025-06-10"), submitter="unilm")

    assert [item.paper.arxiv_id for item in page.items] == ["2506.08007"]


def test_paper_detail_has_the_paper_and_its_listings(june: Database) -> None:
    with june.sessions() as session:
        detail = paper_detail(session, "2506.08007")

    assert detail.paper.title == "Reinforcement Pre-Training"
    assert [listing.day for listing in detail.listings] == [date(2025, 6, 10)]


def test_an_unknown_paper_raises_paper_not_found(june: Database) -> None:
    not_found = pytest.raises(PaperNotFound, match=r"paper 2401\.99999 not found")
    with june.sessions() as session, not_found:
        paper_detail(session, "2401.99999")
