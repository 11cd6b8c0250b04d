"""The COPY + merge import into PostgreSQL stores what today's importer stores, and resumes."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL, POSTGRES_URL, _fresh_postgres_database
from sqlalchemy import text

from paperfeed.ingest import arxiv_jsonl, bulk_pg
from paperfeed.store.db import Database

PAPERS = "SELECT id, version, title, abstract, categories, primary_category, published_at, " \
    "updated_at, announced_on, comments, journal_ref, doi, license, metadata_source, " \
    "upvotes_base FROM papers ORDER BY id"  # fmt: skip
AUTHORS = "SELECT paper_id, position, name FROM paper_authors ORDER BY 1, 2"


@pytest.fixture
def two_databases() -> Iterator[tuple[Database, Database]]:
    if not POSTGRES_URL:
        pytest.skip("needs PAPERFEED_TEST_POSTGRES_URL (see .ci/run)")
    first, second = _fresh_postgres_database(), _fresh_postgres_database()
    with Database(next(first)) as a, Database(next(second)) as b:
        yield a, b
    for generator in (first, second):
        generator.close()


def _snapshot(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _rows(db: Database, query: str) -> list:
    with db.engine.connect() as connection:
        return list(connection.execute(text(query)).all())


def test_copy_import_stores_what_todays_importer_stores_and_merges_alike(
    two_databases: tuple[Database, Database], tmp_path: Path
) -> None:
    bulk, plain = two_databases
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 300)]
    first = _snapshot(tmp_path / "first.jsonl", records)
    # A later snapshot: one paper revised (newer title), one with its abstract gone (an empty
    # value never erases one), a broken line, and 50 papers as they were.
    revised = [dict(records[0], title="A revised title"), dict(records[1], abstract=""),
               *records[2:50]]  # fmt: skip
    second = _snapshot(tmp_path / "second.jsonl", revised)
    second.write_text(second.read_text() + "{not json\n")

    reports = []
    for importer, db in ((bulk_pg.import_file, bulk), (arxiv_jsonl.import_file, plain)):
        reports.append((importer(db, first, batch_size=120), importer(db, second)))

    (bulk_first, bulk_second), (plain_first, plain_second) = reports
    assert bulk_first.saved.papers == plain_first.saved.papers
    assert bulk_first.saved.papers.inserted == 300
    assert bulk_second.saved.papers == plain_second.saved.papers
    assert bulk_second.saved.papers.updated == 1 and bulk_second.saved.papers.unchanged == 49
    assert len(bulk_second.rejected) == len(plain_second.rejected) == 1
    assert _rows(bulk, PAPERS) == _rows(plain, PAPERS)
    assert _rows(bulk, AUTHORS) == _rows(plain, AUTHORS)
    counts = "SELECT count(*), count(DISTINCT paper_id) FROM search_changes"
    assert _rows(bulk, counts) == _rows(plain, counts)
    assert bulk_pg.import_file(bulk, first).skipped_sources == [str(first)]  # done: skipped
