"""The COPY + merge import into PostgreSQL stores what today's importer stores, and resumes."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL, POSTGRES_URL, _fresh_postgres_database
from sqlalchemy import text

from paperfeed.ingest import arxiv_jsonl, bulk_pg
from paperfeed.store.db import Database

# Every column (ai_keywords as text: JSON null and SQL NULL are told apart).
PAPERS = "SELECT id, version, title, abstract, categories, primary_category, published_at, " \
    "updated_at, announced_on, comments, journal_ref, doi, license, organization_id, " \
    "upvotes_base, upvotes_local, comments_local, github_repo, github_stars, project_page, " \
    "ai_summary, ai_keywords::text, discussion_id, metadata_source, listed_on " \
    "FROM papers ORDER BY id"  # fmt: skip
AUTHORS = "SELECT paper_id, position, name, hf_user FROM paper_authors ORDER BY 1, 2"
NAME_KEYS = "SELECT name_key FROM authors ORDER BY 1"
CHANGES = "SELECT count(*), count(DISTINCT paper_id) FROM search_changes"


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
    _assert_same_rows(bulk, plain)
    assert bulk_pg.import_file(bulk, first).skipped_sources == [str(first)]  # done: skipped


def _assert_same_rows(bulk: Database, plain: Database) -> None:
    for query in (PAPERS, AUTHORS, NAME_KEYS, CHANGES):
        assert _rows(bulk, query) == _rows(plain, query), query


def _edge_records(records: list[dict]) -> bytes:
    """A snapshot of awkward lines, each a case the importers must treat alike."""
    a, b, c, d, e = records[:5]
    lines = [
        json.dumps(a),
        "{not json",
        "@NOT-UTF-8@",
        '{"id": "2503.99009", "title": "a raw @NUL@ is not JSON"}',
        json.dumps({"title": "no id at all"}),
        json.dumps({"id": "2503.99002", "abstract": "no title"}),
        json.dumps({"id": "not an id", "title": "x"}),
        json.dumps([1, 2, 3]),
        json.dumps({**b, "title": "t" * 6000}),  # over TITLE_MAX
        json.dumps({**c, "comments": "c" * 30_000}),  # over FIELD_MAX
        json.dumps({"id": "2503.99003", "title": "huge", "abstract": "a" * (2 * 1024 * 1024)}),
        # NUL, other controls, a lone surrogate, CR LF, C1 and DEL: cleaned, not refused.
        json.dumps({**d, "title": "Nul\x00 in \x07 title\ud800", "abstract": "one\r\ntwo\x85\x7f",
                    "authors_list": ["Ann\x00 Lee", "Bo \\ \"Q\" {x,y}", "Tab\tName"]}),
        json.dumps({**d, "title": "raw C1\x85, DEL\x7f", "id": "2503.99004"}, ensure_ascii=False),
        # The same paper again in the batch: the later record merges over the earlier.
        json.dumps({**a, "title": "A retitled", "abstract": "", "authors_list": []}),
        json.dumps({**e, "authors_list": ["Only One"], "first_seen_date": "2020-01-01"}),
        json.dumps({**e, "categories": "cs.LG cs.AI", "first_seen_date": "2030-01-01"}),
        "",
        "   ",
        json.dumps({**e, "id": "2503.99005", "versions": [{"created": "not a date"}]}),
        json.dumps({**e, "id": "2503.99006", "first_seen_date": "yesterday"}),
        json.dumps({**e, "id": "2503.99007", "categories": ["cs.LG"]}),
        json.dumps({**e, "id": "2503.99008v3", "versions": [
            {"created": "Mon, 2 Apr 2007 19:18:42 GMT"}, {"created": "Tue, 3 Apr 2007 10:00:00 GMT"}
        ]}),
    ]  # fmt: skip
    text = ("\n".join(lines) + "\n").encode()
    return text.replace(b"@NOT-UTF-8@", b'{"id": "2503.99001", "title": "caf\xe9"}').replace(
        b"@NUL@", b"\x00"
    )


@pytest.mark.parametrize("parallel", [True, False])
def test_malformed_and_awkward_records_are_stored_or_refused_alike(
    two_databases: tuple[Database, Database], tmp_path: Path, parallel: bool
) -> None:
    bulk, plain = two_databases
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 40)]
    path = tmp_path / "awkward.jsonl"
    path.write_bytes(_edge_records(records))
    # Stored first: version 5 of one paper, and six more papers.
    stored = tmp_path / "stored.jsonl"
    created = {"created": "Mon, 2 Apr 2007 19:18:42 GMT"}
    newer = {**records[30], "title": "Newer", "versions": [created] * 5}
    _snapshot(stored, [newer, records[31], *records[20:25]])
    older = {**records[30], "title": "Older", "versions": [created] * 2}  # version 2: ignored
    only_authors = {**records[31], "authors_list": ["Someone Else", "Another Person"]}
    later = _snapshot(tmp_path / "later.jsonl", [older, only_authors, *records[20:25], records[0]])

    reports = []
    for importer, db in ((bulk_pg.import_file, bulk), (arxiv_jsonl.import_file, plain)):
        kwargs = {"parallel": parallel} if importer is bulk_pg.import_file else {}
        importer(db, stored, **kwargs)  # type: ignore[operator]
        reports.append(importer(db, path, batch_size=2000, **kwargs))  # type: ignore[operator]
        reports.append(importer(db, later, batch_size=3, **kwargs))  # type: ignore[operator]
    bulk_awkward, bulk_later, plain_awkward, plain_later = reports

    assert bulk_awkward.rejected == plain_awkward.rejected
    assert len(bulk_awkward.rejected) == 13
    assert bulk_awkward.saved.papers == plain_awkward.saved.papers
    assert bulk_later.saved.papers == plain_later.saved.papers
    # The author list, and the paper the awkward file retitled; the older version changes nothing.
    assert bulk_later.saved.papers.updated == 2
    _assert_same_rows(bulk, plain)
    titles = dict(_rows(bulk, "SELECT id, title FROM papers"))
    assert titles[records[30]["id"]] == "Newer"
    assert "\x00" not in "".join(titles.values())

    # A file imported again right after itself (from the first line) changes and queues nothing.
    for again in (later, path):
        changes = _rows(bulk, CHANGES)
        if again is path:  # `later` undid its retitling: this first import of it again redoes it
            assert bulk_pg.import_file(bulk, path, restart=True).saved.papers.updated == 1
            changes = _rows(bulk, CHANGES)
        rerun = bulk_pg.import_file(bulk, again, restart=True, parallel=parallel)
        assert rerun.saved.papers.inserted == rerun.saved.papers.updated == 0
        assert _rows(bulk, CHANGES) == changes


_KILLED_IMPORT = """
import os, signal, sys
from pathlib import Path
from paperfeed.ingest import bulk_pg
from paperfeed.store.db import Database

class DieAfterTwoBatches:
    batches = 0
    def start(self, description, total):
        pass
    def advance(self, amount=1):
        self.batches += 1
        if self.batches == 2:  # two batches committed, the parser a batch or two ahead
            os.kill(os.getpid(), signal.SIGKILL)

with Database(sys.argv[1]) as db:
    bulk_pg.import_file(db, Path(sys.argv[2]), batch_size=250, progress=DieAfterTwoBatches())
"""


def test_a_killed_copy_import_resumes_losing_and_repeating_nothing(
    two_databases: tuple[Database, Database], tmp_path: Path
) -> None:
    bulk, plain = two_databases
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 1200)]
    path = _snapshot(tmp_path / "part.jsonl", records)
    url = bulk.engine.url.render_as_string(hide_password=False)
    killed = subprocess.run([sys.executable, "-c", _KILLED_IMPORT, url, str(path)],
                            capture_output=True, text=True)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _rows(bulk, "SELECT count(*) FROM papers") == [(500,)]
    assert _rows(bulk, "SELECT state FROM checkpoints") == [({"lines": 500, "done": False},)]

    resumed = bulk_pg.import_file(bulk, path, batch_size=250)
    arxiv_jsonl.import_file(plain, path, batch_size=250)

    assert resumed.saved.papers.inserted == 700
    _assert_same_rows(bulk, plain)
    assert bulk_pg.import_file(bulk, path).skipped_sources == [str(path)]


def test_the_cli_copy_import_parses_in_a_child_and_reports(
    two_databases: tuple[Database, Database], tmp_path: Path
) -> None:
    bulk, _ = two_databases
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 200)]
    path = _snapshot(tmp_path / "part.jsonl", records)
    path.write_text(path.read_text() + "{not json\n")
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path / "home"),
           "PAPERFEED_DATABASE_URL": bulk.engine.url.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "paperfeed.cli", "ingest", "arxiv-jsonl", "--copy", str(path)]

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 3, result.stderr  # one line rejected
    assert "papers 200 new, 0 updated" in result.stdout
    assert "not valid JSON" in result.stderr
    assert _rows(bulk, "SELECT count(*) FROM papers") == [(200,)]
