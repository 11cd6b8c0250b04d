"""Importing Hugging Face daily-papers responses: files, folders, bad shapes, the live API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import HF_API_DIR, HF_OTHER_SHAPES
from sqlalchemy import select
from support.dump import count, dump
from support.files import hf_entries, hf_files
from support.hf_server import serve_daily_papers

from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import CheckpointRow, DailyEntryRow, PaperRow


def test_a_month_of_files_imports_every_entry_once(db: Database) -> None:
    files = hf_files(HF_API_DIR, "2025-06")
    entries = hf_entries(files)

    report = hf_daily.import_paths(db, files)

    assert report.ok and len(files) == 21
    assert report.saved.entries.inserted == len(entries) == count(db, "daily_entries")
    assert count(db, "papers") == len({e["paper"]["id"] for e in entries})
    first = json.loads((HF_API_DIR / "2025-06-10.json").read_text())[0]
    with db.sessions() as session:
        paper = session.get(PaperRow, first["paper"]["id"])
        assert paper.title == first["paper"]["title"]
        assert paper.abstract == first["paper"]["summary"]  # newlines kept as data
        assert paper.upvotes_base == first["paper"]["upvotes"]
        assert [link.name for link in paper.author_links] == [
            a["name"] for a in first["paper"]["authors"]
        ]
        listing = session.scalars(
            select(DailyEntryRow).where(DailyEntryRow.paper_id == first["paper"]["id"])
        ).one()
        assert listing.day == date(2025, 6, 10)
        assert listing.submitted_by == first["submittedBy"]["name"]
        assert listing.num_comments == first["numComments"]


def test_importing_again_changes_nothing(db: Database) -> None:
    files = hf_files(HF_API_DIR, "2025-06")
    hf_daily.import_paths(db, files)
    before = dump(db)

    skipped = hf_daily.import_paths(db, files)
    forced = hf_daily.import_paths(db, files, force=True)

    assert len(skipped.skipped_sources) == len(files)
    assert forced.saved.papers.inserted == forced.saved.papers.updated == 0
    assert forced.saved.entries.inserted == forced.saved.entries.updated == 0
    assert dump(db) == before


def test_all_files_and_organizations(sqlite_db: Database) -> None:
    files = hf_files(HF_API_DIR)
    entries = hf_entries(files)

    report = hf_daily.import_paths(sqlite_db, [HF_API_DIR])

    assert report.ok and len(files) == 558
    assert count(sqlite_db, "daily_entries") == len(entries) == 9581
    # A paper listed on two days is one paper with two listings.
    assert count(sqlite_db, "papers") == len({e["paper"]["id"] for e in entries}) == 9577
    org_names = {
        e["paper"]["organization"]["name"] for e in entries if e["paper"].get("organization")
    }
    assert count(sqlite_db, "organizations") == len(org_names)


def test_other_shapes_are_rejected_by_name_and_the_rest_imported(sqlite_db: Database) -> None:
    good = hf_files(HF_API_DIR, "2025-01-1")
    bad = hf_files(HF_OTHER_SHAPES)

    report = hf_daily.import_paths(sqlite_db, [*good, HF_OTHER_SHAPES])

    assert len(report.rejected) == len(bad) == 22
    by_file = {Path(r.where).name: r.problem for r in report.rejected}
    assert set(by_file) == {f.name for f in bad}
    assert "Python-repr" in by_file["2024-12-11.json"]
    assert "wrapping the entries" in by_file["2025-01-10.json"]
    assert "data" in by_file["2025-01-10.json"]  # names the keys it found
    assert count(sqlite_db, "daily_entries") == len(hf_entries(good))


def test_truncated_json_and_bad_entries(sqlite_db: Database, tmp_path: Path) -> None:
    source = HF_API_DIR / "2025-06-10.json"
    truncated = tmp_path / "2025-06-10.json"
    truncated.write_bytes(source.read_bytes()[:5000])
    entries = json.loads((HF_API_DIR / "2025-06-11.json").read_text())
    del entries[0]["paper"]["id"]
    entries[1]["paper"]["title"] = entries[1]["title"] = "  "
    entries[2]["paper"]["id"] = "not-an-id"
    entries[3] = "a string"
    entries[4]["paper"]["organization"] = {"name": "o" * 201, "fullname": "Overlong"}
    edited = tmp_path / "2025-06-11.json"
    edited.write_text(json.dumps(entries))

    report = hf_daily.import_paths(sqlite_db, [truncated, edited])

    problems = {r.where.rsplit("/", 1)[-1]: r.problem for r in report.rejected}
    assert "not valid JSON" in problems["2025-06-10.json"]
    assert "truncated" in problems["2025-06-10.json"]
    assert problems["2025-06-11.json#0"] == "paper has no id"
    assert problems["2025-06-11.json#1"].endswith("has no title")
    assert "not an arXiv identifier" in problems["2025-06-11.json#2"]
    assert "not a JSON object" in problems["2025-06-11.json#3"]
    assert "at most 200 characters" in problems["2025-06-11.json#4"]
    assert count(sqlite_db, "daily_entries") == len(entries) - 5  # the good ones, all of them
    assert count(sqlite_db, "checkpoints") == 1  # the bad file is retried next time


def test_cli_reports_rejections_with_exit_status_3(tmp_path: Path) -> None:
    result = _cli("ingest", "hf-daily", str(HF_API_DIR / "2025-01-13.json"), str(HF_OTHER_SHAPES))

    assert result.returncode == 3
    assert "daily listings" in result.stdout
    assert result.stderr.count("rejected ") == 22
    assert "2025-01-10.json" in result.stderr


def test_cli_without_input_is_a_usage_error() -> None:
    result = _cli("ingest", "hf-daily")

    assert result.returncode == 2
    assert "give PATH" in result.stderr


def test_killed_import_resumes_without_losing_or_duplicating(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "paperfeed.cli", "ingest", "hf-daily", str(HF_API_DIR)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = _wait_for_checkpoints(env, at_least=40, process=process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = count(db, "checkpoints")
    assert committed < 558, "the import finished before it could be killed"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=True)

    assert f"{committed} source(s) already imported" in rerun.stdout
    assert count(db, "daily_entries") == 9581
    assert count(db, "papers") == 9577


def test_fetching_days_from_a_live_endpoint(db: Database) -> None:
    days = [date(2025, 6, 6), date(2025, 6, 7), date(2025, 6, 9)]  # Friday, Saturday, Monday
    expected = hf_entries([HF_API_DIR / f"{d}.json" for d in days if d.weekday() < 5])
    settings = Settings(http_delay_s=0, http_retries=2)

    with serve_daily_papers(HF_API_DIR, busy_first=1) as server:
        report = hf_daily.fetch_days(db, days, endpoint=server.url, settings=settings)

    assert report.ok
    assert report.saved.entries.inserted == len(expected) == count(db, "daily_entries")
    assert server.requests[0] == server.requests[1]  # the 503 was retried
    assert all("limit=100" in r for r in server.requests)


def test_an_unreachable_endpoint_is_reported_per_day(sqlite_db: Database) -> None:
    settings = Settings(http_delay_s=0, http_retries=0, http_timeout_s=2)

    report = hf_daily.fetch_days(
        sqlite_db, [date(2025, 6, 6)], endpoint="http://127.0.0.1:9", settings=settings
    )

    assert len(report.rejected) == 1
    assert "cannot reach" in report.rejected[0].problem


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ,
    )


def _wait_for_checkpoints(env: dict, at_least: int, process: subprocess.Popen) -> Database:
    url = f"sqlite:///{Path(env['PAPERFEED_HOME']) / 'paperfeed.db'}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Path(url.removeprefix("sqlite:///")).exists():
            db = Database(url, migrate=False)
            try:
                with db.sessions() as session:
                    done = len(session.scalars(select(CheckpointRow.key)).all())
                if done >= at_least:
                    return db
            except Exception:  # tables not created yet
                pass
            db.close()
        if process.poll() is not None:
            pytest.fail(f"import ended early: {process.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail("import made no progress")


def test_cli_fetches_a_range_of_days(tmp_path: Path) -> None:
    days = ["2025-06-06", "2025-06-07", "2025-06-08", "2025-06-09"]
    expected = hf_entries(
        [HF_API_DIR / f"{d}.json" for d in days if (HF_API_DIR / f"{d}.json").exists()]
    )

    with serve_daily_papers(HF_API_DIR) as server:
        result = _cli(
            "ingest", "hf-daily", "--from", days[0], "--to", days[-1], "--endpoint", server.url
        )

    assert result.returncode == 0, result.stderr
    assert f"daily listings {len(expected)} new" in result.stdout
    assert [r.split("date=")[1][:10] for r in server.requests] == days


def test_cli_rejects_a_bad_date() -> None:
    result = _cli("ingest", "hf-daily", "--date", "2025-02-30")

    assert result.returncode == 2
    assert "--date must be a date YYYY-MM-DD" in result.stderr


def test_absurd_counts_are_a_clear_error_for_that_entry(db: Database, tmp_path: Path) -> None:
    """Audit finding: a huge `upvotes` crashed the import with an uncaught OverflowError."""
    entries = json.loads((HF_API_DIR / "2025-06-11.json").read_text())
    entries[0]["paper"]["upvotes"] = 10**30
    entries[1]["paper"]["upvotes"] = float("inf")  # json.dumps writes Infinity, Python reads it
    entries[2]["numComments"] = 2**40
    edited = tmp_path / "2025-06-11.json"
    edited.write_text(json.dumps(entries))

    report = hf_daily.import_paths(db, [edited])

    problems = {r.where.rsplit("/", 1)[-1]: r.problem for r in report.rejected}
    assert set(problems) == {"2025-06-11.json#0", "2025-06-11.json#1", "2025-06-11.json#2"}
    assert "less than or equal to 2147483647" in problems["2025-06-11.json#0"]
    assert count(db, "daily_entries") == len(entries) - 3
