"""Importing the arXiv bulk-metadata snapshot: counts, fields, bad lines, resuming."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL
from sqlalchemy import select
from support.dump import count, dump
from support.files import arxiv_subset

from paperfeed.ingest import arxiv_jsonl
from paperfeed.store.db import Database
from paperfeed.store.models import CheckpointRow, PaperRow


def test_the_whole_snapshot_imports_every_record_once(sqlite_db: Database) -> None:
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        ids = [json.loads(line)["id"] for line in lines]

    report = arxiv_jsonl.import_file(sqlite_db, ARXIV_JSONL)

    assert report.ok
    assert report.saved.papers.inserted == len(ids) == len(set(ids)) == 74728
    assert count(sqlite_db, "papers") == 74728


def test_fields_are_stored_as_given(db: Database, tmp_path: Path) -> None:
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "part.jsonl.gz", 3000)

    arxiv_jsonl.import_file(db, tmp_path / "part.jsonl.gz")

    assert count(db, "papers") == 3000
    # LaTeX and markup in titles and abstracts are data: stored exactly, escaped only on output.
    latex = next(r for r in records if "$" in r["title"] or "\\" in r["abstract"])
    with db.sessions() as session:
        for record in (records[0], records[1234], latex):
            paper = session.get(PaperRow, record["id"])
            assert paper.title == record["title"]
            assert paper.abstract == record["abstract"]
            assert paper.categories.split() == record["categories"].split()
            assert paper.primary_category == record["categories"].split()[0]
            assert paper.comments == record["comments"]
            assert paper.announced_on.isoformat() == record["first_seen_date"]
            assert [a.name for a in paper.author_links] == record["authors_list"]


def test_importing_again_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "part.jsonl.gz"
    arxiv_subset(ARXIV_JSONL, path, 2500)
    arxiv_jsonl.import_file(db, path, batch_size=1000)
    before = dump(db)

    skipped = arxiv_jsonl.import_file(db, path)
    again = arxiv_jsonl.import_file(db, path, restart=True)

    assert skipped.skipped_sources == [str(path)]
    assert again.saved.papers.unchanged == 2500
    assert again.saved.papers.inserted == again.saved.papers.updated == 0
    assert dump(db) == before


def test_plain_jsonl_with_bad_lines(sqlite_db: Database, tmp_path: Path) -> None:
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "part.jsonl.gz", 10)
    no_id = dict(records[1])
    del no_id["id"]
    no_title = {**records[2], "title": ""}
    bad_id = {**records[3], "id": "12345"}
    lines = [
        json.dumps(records[0]),
        json.dumps(no_id),
        json.dumps(no_title),
        json.dumps(bad_id),
        '{"id": "2503.00001", "title": "cut off',
        "[1, 2]",
        "",
        *map(json.dumps, records[4:]),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = arxiv_jsonl.import_file(sqlite_db, path)

    problems = {r.where.rsplit(":", 1)[-1]: r.problem for r in report.rejected}
    assert problems == {
        "2": "record has no id",
        "3": f"paper {records[2]['id']} has no title",
        "4": "not an arXiv identifier: '12345'",
        "5": "not valid JSON (Unterminated string starting at)",
        "6": "a JSON list, not an object",
    }
    assert count(sqlite_db, "papers") == 1 + len(records[4:])


def test_truncated_gzip_keeps_what_was_read(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "part.jsonl.gz"
    arxiv_subset(ARXIV_JSONL, path, 5000)
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    report = arxiv_jsonl.import_file(sqlite_db, truncated, batch_size=500)

    assert len(report.rejected) == 1
    assert "cannot read past line" in report.rejected[0].problem
    assert 1000 < count(sqlite_db, "papers") < 5000


def test_killed_import_resumes_after_the_last_batch(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "paperfeed.cli", "ingest", "arxiv-jsonl", str(ARXIV_JSONL)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = Database(f"sqlite:///{tmp_path / 'home' / 'paperfeed.db'}", migrate=False)
    lines_done = _wait_for_lines(db, at_least=10000, process=process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with db.sessions() as session:
        lines_done = session.scalars(select(CheckpointRow)).one().state["lines"]
    assert count(db, "papers") == lines_done < 74728

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=True)

    assert f"papers {74728 - lines_done} new, 0 updated" in rerun.stdout
    assert count(db, "papers") == 74728


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "paperfeed.cli",
            "ingest",
            "arxiv-jsonl",
            str(tmp_path / "no.jsonl"),
        ],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 3
    assert "no.jsonl: no such file" in result.stderr


def _wait_for_lines(db: Database, at_least: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with db.sessions() as session:
                row = session.scalars(select(CheckpointRow)).one_or_none()
            if row and row.state["lines"] >= at_least:
                return row.state["lines"]
        except Exception:  # the database is not created yet
            pass
        if process.poll() is not None:
            pytest.fail(f"import ended early: {process.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail("import made no progress")


def test_oversized_records_and_lines_are_refused_not_stored(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Audit finding: a 306 kB .jsonl.gz stored a 300 MB abstract."""
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "part.jsonl.gz", 3)
    huge_abstract = {**records[0], "abstract": "word " * 40_000}  # 200 kB
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps(huge_abstract) + "\n")
        out.write('{"id": "2503.00002", "abstract": "' + "a" * (3 * 1024 * 1024) + '"}\n')
        out.write("\n".join(map(json.dumps, records[1:])) + "\n")

    report = arxiv_jsonl.import_file(sqlite_db, path)

    problems = {r.where.rsplit(":", 1)[-1]: r.problem for r in report.rejected}
    assert "at most 100000 characters" in problems["1"]
    assert problems["2"] == "a line over 1,048,576 bytes"
    assert count(sqlite_db, "papers") == 2


@pytest.mark.parametrize("title", [
    "plain", "caf\u00e9 \u00a0nbsp", "TeX \\frac{a}{b} \\beta \\rho \\u", "quote \" and \\\\",
    "NUL \x00", "bell \x07", "CR \r\n LF", "C1 \x85", "DEL \x7f", "lone \ud800", "pair \U0001f600",
    "backspace \b", "form feed \f", "tab \t newline \n",
])  # fmt: skip
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_a_line_parses_to_what_cleaning_every_field_gives(title: str, ensure_ascii: bool) -> None:
    """parse_line skips storable() on lines that need none; it must never skip a needed one."""
    record = {"id": "2503.00001", "title": f"A {title}", "authors_list": [f"Ann {title}"],
              "abstract": f"x {title}", "categories": "cs.LG"}  # fmt: skip
    try:
        line = json.dumps(record, ensure_ascii=ensure_ascii).encode()
    except UnicodeEncodeError:
        return
    try:
        line.decode()
    except UnicodeDecodeError:  # a lone surrogate written raw: not UTF-8, refused either way
        return
    cleaned = arxiv_jsonl.parse_record(json.loads(line))  # storable() on every string
    assert arxiv_jsonl.parse_line(line) == cleaned
