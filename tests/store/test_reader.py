"""Reading the store back: pages of daily listings, navigation days and whole papers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from conftest import HF_API_DIR
from sqlalchemy import event
from support.files import hf_entries, hf_files

from paperfeed.ingest import hf_daily
from paperfeed.store import reader
from paperfeed.store.db import Database

# 10 .. 19 November 2025: Friday the 14th had no list, so Thursday is followed by Monday.
NOVEMBER = hf_files(HF_API_DIR, "2025-11-1")


@pytest.fixture
def november(db: Database) -> Database:
    assert [f.stem for f in NOVEMBER] == [
        "2025-11-10", "2025-11-11", "2025-11-12", "2025-11-13",
        "2025-11-17", "2025-11-18", "2025-11-19",
    ]  # fmt: skip
    assert hf_daily.import_paths(db, NOVEMBER).ok
    return db


def test_entries_of_a_range_come_most_upvoted_first_with_the_total(november: Database) -> None:
    theirs = hf_entries(NOVEMBER[:4])  # Monday to Thursday
    votes = {e["paper"]["id"]: e["paper"]["upvotes"] for e in theirs}

    with november.sessions() as session:
        whole = reader.daily_entries(
            session, date(2025, 11, 10), date(2025, 11, 16), offset=0, limit=500
        )
        pages = [
            reader.daily_entries(
                session, date(2025, 11, 10), date(2025, 11, 16), offset=start, limit=25
            )
            for start in range(0, len(theirs), 25)
        ]

    assert whole.total == len(theirs)
    ids = [entry.paper.arxiv_id for entry in whole.items]
    assert sorted(ids) == sorted(votes)
    assert [votes[i] for i in ids] == sorted(votes.values(), reverse=True)
    assert [e.paper.arxiv_id for page in pages for e in page.items] == ids
    assert all(page.total == len(theirs) for page in pages)


def test_newest_order_is_by_publication_time(november: Database) -> None:
    with november.sessions() as session:
        entries = reader.daily_entries(
            session, date(2025, 11, 17), date(2025, 11, 17), order="newest", limit=100
        ).items

    published = [entry.paper.published_at for entry in entries]
    assert published == sorted(published, reverse=True)
    assert len(entries) == len(json.loads(NOVEMBER[4].read_text()))


def test_an_entry_carries_its_listing_and_its_paper(november: Database) -> None:
    raw = json.loads(NOVEMBER[0].read_text())[0]

    with november.sessions() as session:
        entries = reader.daily_entries(session, date(2025, 11, 10), date(2025, 11, 10)).items
        submitter = raw["submittedBy"]["name"]
        by_submitter = reader.daily_entries(
            session, date(2025, 11, 10), date(2025, 11, 19), submitter=submitter, limit=500
        )
    entry = next(e for e in entries if e.paper.arxiv_id == raw["paper"]["id"])

    assert entry.day == date(2025, 11, 10)
    assert entry.submitted_by is not None and entry.submitted_by.username == submitter
    assert entry.num_comments == raw["numComments"]
    assert entry.thumbnail == raw["thumbnail"]
    assert entry.paper.title == raw["paper"]["title"]
    assert entry.paper.upvotes == raw["paper"]["upvotes"]
    assert [a.name for a in entry.paper.authors] == [a["name"] for a in raw["paper"]["authors"]]
    published = datetime.fromisoformat(raw["paper"]["publishedAt"].replace("Z", "+00:00"))
    assert entry.paper.published_at == published and published.tzinfo == UTC
    if "organization" in raw["paper"]:
        assert entry.paper.organization is not None
        assert entry.paper.organization.fullname == raw["paper"]["organization"]["fullname"]
    assert by_submitter.total == sum(
        e.get("submittedBy", {}).get("name") == submitter for e in hf_entries(NOVEMBER)
    )
    assert {e.submitted_by.username for e in by_submitter.items if e.submitted_by} == {submitter}


def test_navigation_days_skip_weekends_and_days_without_a_list(november: Database) -> None:
    with november.sessions() as session:
        assert reader.day_after(session, date(2025, 11, 13), "featured") == date(2025, 11, 17)
        assert reader.day_before(session, date(2025, 11, 17), "featured") == date(2025, 11, 13)
        assert reader.day_before(session, date(2025, 11, 10), "featured") is None
        assert reader.latest_day(session, "featured") == date(2025, 11, 19)
        assert reader.day_after(session, date(2025, 11, 19), "featured") is None
        assert reader.has_daily_entries(session)
        # Daily lists say nothing about arXiv announcement days.
        assert reader.latest_day(session, "all") is None
        assert reader.announced_papers(session, date(2025, 11, 1), date(2025, 11, 30)).total == 0


def test_a_paper_and_the_days_it_was_featured(db: Database) -> None:
    # 2606.11176 was on the lists of both 10 and 16 June 2026.
    assert hf_daily.import_paths(db, hf_files(HF_API_DIR, "2026-06-1")).ok

    with db.sessions() as session:
        paper = reader.get_paper(session, "2606.11176")
        assert paper is not None
        listings = reader.listings_of(session, paper)
        assert reader.get_paper(session, "2401.99999") is None

    assert [listing.day for listing in listings] == [date(2026, 6, 10), date(2026, 6, 16)]
    assert all(listing.paper is paper for listing in listings)


def test_a_page_of_papers_loads_in_a_fixed_number_of_queries(november: Database) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(november.engine, "before_cursor_execute", count)
    try:
        with november.sessions() as session:
            page = reader.daily_entries(session, date(2025, 11, 10), date(2025, 11, 19), limit=50)
    finally:
        event.remove(november.engine, "before_cursor_execute", count)

    assert len(page.items) == 50
    assert sum(len(entry.paper.authors) for entry in page.items) > 50
    assert len(statements) == 4  # count, listings, papers with organizations, authors


def test_papers_with_their_first_listing_of_a_span_in_two_queries(db: Database) -> None:
    # 2606.11176 was on the lists of both 10 and 16 June 2026.
    assert hf_daily.import_paths(db, hf_files(HF_API_DIR, "2026-06-1")).ok
    with db.sessions() as session:
        page = reader.daily_entries(session, date(2026, 6, 10), date(2026, 6, 19), limit=30)
    # and one paper listed twice, one not stored
    ids = [*(entry.paper.arxiv_id for entry in page.items), "2606.11176", "2401.99999"]
    spans = {date(2026, 6, 10): date(2026, 6, 10), date(2026, 6, 12): date(2026, 6, 16)}
    last = date(2026, 6, 19)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    for first, listed in spans.items():  # the first listing of 2606.11176 from `first` on
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with db.sessions() as session:
                papers, listings = reader.papers_listed_in(session, ids, first, last)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(statements) == 2  # papers with organizations and listings, authors
        with db.sessions() as session:
            expected = reader.load_papers(session, ids)
            expected_listings = reader.first_listings_in(
                session, list(expected.values()), first, last
            )
        assert papers == expected
        assert "2401.99999" not in papers
        assert listings == expected_listings
        assert listings["2606.11176"].day == listed
