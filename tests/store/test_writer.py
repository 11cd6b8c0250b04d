"""Merging records of one paper from arXiv and Hugging Face, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from datetime import date

from conftest import ARXIV_JSONL, HF_API_DIR
from support.dump import dump
from support.files import hf_entries, hf_files

from paperfeed.ingest.arxiv_jsonl import parse_record
from paperfeed.ingest.hf_daily import parse_entry
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow
from paperfeed.store.writer import save_daily_entries, save_papers


def _june_2025() -> tuple[list, list]:
    """HF listings of June 2025 and the arXiv snapshot records of the same papers."""
    raw = hf_entries(hf_files(HF_API_DIR, "2025-06"))
    entries = [parse_entry(e) for e in raw]
    ids = {e.paper.arxiv_id for e in entries}
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [parse_record(r) for r in map(json.loads, lines) if r["id"] in ids]
    return entries, records


def test_arxiv_and_hugging_face_merge_the_same_in_either_order(database_url: str) -> None:
    entries, records = _june_2025()
    assert len(records) > 100  # the two sources overlap

    first = Database(database_url)
    with first.transaction() as session:
        save_daily_entries(session, entries)
    with first.transaction() as session:
        save_papers(session, records)
    hf_then_arxiv = dump(first)
    with first.transaction() as session:  # and neither source undoes the other
        assert save_daily_entries(session, entries).papers.updated == 0
        assert save_papers(session, records).updated == 0
    first.close()

    second = Database(database_url.replace("test.db", "second.db"))
    if second.url == database_url:  # PostgreSQL: start the other order on empty tables
        second.engine.dispose()
        _clear(first_url=database_url)
        second = Database(database_url)
    with second.transaction() as session:
        save_papers(session, records)
    with second.transaction() as session:
        save_daily_entries(session, entries)
    assert dump(second) == hf_then_arxiv
    second.close()


def test_who_owns_which_field(sqlite_db: Database) -> None:
    entries, records = _june_2025()
    record = records[0]
    entry = next(e for e in entries if e.paper.arxiv_id == record.arxiv_id)
    with sqlite_db.transaction() as session:
        save_daily_entries(session, [entry])
        save_papers(session, [record])

    with sqlite_db.sessions() as session:
        paper = session.get(PaperRow, record.arxiv_id)
        assert paper.title == record.title  # arXiv owns the bibliography
        assert paper.categories == " ".join(record.categories)
        assert paper.announced_on == record.announced_on
        assert paper.published_at == entry.paper.published_at  # gap filled
        assert paper.upvotes_base == entry.paper.upvotes  # Hugging Face owns its fields
        assert paper.ai_summary == entry.paper.ai_summary
        assert paper.metadata_source == "arxiv"


def test_an_older_capture_never_lowers_counts_or_replaces_newer_fields(sqlite_db: Database) -> None:
    raw = json.loads((HF_API_DIR / "2025-06-10.json").read_text())[0]
    newer = parse_entry(raw)
    older_raw = json.loads(json.dumps(raw))
    older_raw["paper"]["upvotes"] = 3
    older_raw["paper"]["ai_summary"] = "an earlier summary"
    older_raw["paper"]["submittedOnDailyAt"] = "2025-06-09T00:00:00.000Z"
    older_raw["numComments"] = 0
    older = parse_entry(older_raw)

    with sqlite_db.transaction() as session:
        save_daily_entries(session, [newer])
    with sqlite_db.transaction() as session:
        save_daily_entries(session, [older])

    with sqlite_db.sessions() as session:
        paper = session.get(PaperRow, newer.paper.arxiv_id)
        assert paper.upvotes_base == raw["paper"]["upvotes"]
        assert paper.ai_summary == raw["paper"]["ai_summary"]
        assert paper.listed_on == date(2025, 6, 10)


def test_a_batch_naming_one_paper_twice_is_one_row(db: Database) -> None:
    raw = json.loads((HF_API_DIR / "2025-06-10.json").read_text())[0]
    entry = parse_entry(raw)
    again = entry.model_copy(update={"day": date(2025, 6, 11)})

    with db.transaction() as session:
        result = save_daily_entries(session, [entry, again, entry])

    assert result.papers.inserted == 1
    assert result.entries.inserted == 2


def _clear(first_url: str) -> None:
    from paperfeed.store.models import Base

    database = Database(first_url)
    with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    database.close()


def test_overlong_real_values_fit_on_both_databases(db: Database) -> None:
    # 2506.02197's listing runs 30 author names together into one 512-character "name".
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        record = next(r for r in map(json.loads, lines) if r["id"] == "2506.02197")
    paper = parse_record({**record, "comments": "x" * 5000, "categories": "y" * 100 + " cs.CV"})

    with db.transaction() as session:
        assert save_papers(session, [paper]).inserted == 1

    with db.sessions() as session:
        stored = session.get(PaperRow, "2506.02197")
        assert [link.name for link in stored.author_links] == record["authors_list"]
        assert max(len(link.author.name_key) for link in stored.author_links) == 500
        assert stored.comments == "x" * 5000
        assert stored.primary_category == "y" * 100
