"""The per-process cache of stored papers: kept while the site version stands, dropped by writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from conftest import HF_API_DIR
from sqlalchemy import event, update
from support.files import hf_files

from paperfeed.ingest import hf_daily
from paperfeed.store import reader
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow, RateLimitRow
from paperfeed.store.paper_cache import PaperCache

DAY = hf_files(HF_API_DIR, "2025-11-10")
DAY_DATE = date(2025, 11, 10)


@pytest.fixture
def listed(db: Database) -> Database:
    assert hf_daily.import_paths(db, DAY).ok
    return db


def _ids(db: Database, count: int = 5) -> list[str]:
    with db.sessions() as session:
        entries = reader.daily_entries(session, DAY_DATE, DAY_DATE, limit=count).items
    return [entry.paper.arxiv_id for entry in entries]


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_papers_and_first_listings_are_those_the_reader_reads(listed: Database) -> None:
    ids = _ids(listed)
    cache = PaperCache()
    with listed.sessions() as session:
        papers, listings = cache.at(session).papers([*ids, "0000.00000"])
        again, listings_again = cache.at(session).papers(ids)  # from memory
        expected = reader.load_papers(session, ids)
        first = reader.first_listings(session, list(expected.values()))
        titles = cache.at(session).titles([*ids, "0000.00000"])

    assert list(papers) == ids  # in the order asked; an unknown id is left out
    assert papers == again == expected
    assert listings == listings_again == first
    assert titles == {i: expected[i].title for i in ids}


def test_kept_papers_are_served_without_reading_them_again(listed: Database) -> None:
    ids = _ids(listed)
    cache = PaperCache()
    with listed.sessions() as session:
        cache.at(session).papers(ids)
        with _statements(listed) as seen:
            cache.at(session).papers(ids)
            cache.at(session).titles(ids)
    assert len(seen) == 2  # the site version, read once per use; no paper rows
    assert all("site_version" in statement for statement in seen)


def test_a_public_write_on_another_node_is_seen_at_once(listed: Database) -> None:
    paper_id = _ids(listed, 1)[0]
    cache = PaperCache()
    other_node = Database(listed.url, migrate=False)
    try:
        with listed.sessions() as session:
            before = cache.at(session).papers([paper_id])[0][paper_id].upvotes
        with other_node.transaction() as session:  # a vote counted through another node
            session.execute(
                update(PaperRow)
                .where(PaperRow.id == paper_id)
                .values(upvotes_local=PaperRow.upvotes_local + 1)
            )
        with listed.sessions() as session:
            after = cache.at(session).papers([paper_id])[0][paper_id].upvotes
    finally:
        other_node.close()
    assert after == before + 1


def test_a_private_write_keeps_the_cache(listed: Database) -> None:
    ids = _ids(listed)
    cache = PaperCache()
    with listed.sessions() as session:
        cache.at(session).papers(ids)
    with listed.transaction() as session:  # bookkeeping nobody sees: no new site version
        session.execute(update(RateLimitRow).values(hits=RateLimitRow.hits))
    with listed.sessions() as session, _statements(listed) as seen:
        cache.at(session).papers(ids)
    assert len(seen) == 1
