"""The newcomer's command: real papers from local data sets, else from the live services."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from conftest import ARXIV_JSONL, HF_API_DIR, SHARED_DATA
from support.dump import count
from support.files import arxiv_subset, hf_entries, hf_files
from support.hf_server import serve_daily_papers
from support.oai_server import OaiServer, load_records

from paperfeed.ingest import quickstart
from paperfeed.settings import Settings
from paperfeed.store.db import Database


def test_the_shared_data_is_found_beside_the_checkout() -> None:
    assert quickstart.find_data_dir() == SHARED_DATA


def test_quickstart_imports_a_data_folder_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "hf-daily-papers" / "api").mkdir(parents=True)
    files = hf_files(HF_API_DIR, "2025-06-1")
    for file in files:
        (data / "hf-daily-papers" / "api" / file.name).write_bytes(file.read_bytes())
    (data / "arxiv-cs").mkdir()
    records = arxiv_subset(ARXIV_JSONL, data / "arxiv-cs" / "part.jsonl.gz", 500)
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path / "home")}
    command = [
        sys.executable,
        "-m",
        "paperfeed.cli",
        "quickstart",
        "--no-serve",
        "--data",
        str(data),
    ]

    first = subprocess.run(command, env=env, capture_output=True, text=True)
    again = subprocess.run(command, env=env, capture_output=True, text=True)

    assert first.returncode == again.returncode == 0, first.stderr
    entries = hf_entries(files)
    assert f"daily listings {len(entries)} new" in first.stdout
    assert "part.jsonl.gz: papers" in first.stdout
    assert again.stdout.count("already imported, skipped") == 2
    db = Database(f"sqlite:///{tmp_path / 'home' / 'paperfeed.db'}")
    ids = {e["paper"]["id"] for e in entries} | {r["id"] for r in records}
    assert count(db, "papers") == len(ids)
    db.close()


def test_without_local_data_it_fetches_the_last_week(sqlite_db: Database) -> None:
    today = date(2025, 6, 13)
    week = {(today - timedelta(days=n)).isoformat() for n in range(7)}
    records = [r for r in load_records(ARXIV_JSONL, 3000) if r["first_seen_date"] >= "2025-03-18"]

    with serve_daily_papers(HF_API_DIR) as hf, OaiServer(records, page_size=200) as arxiv:
        settings = Settings(hf_endpoint=hf.url, oai_url=arxiv.url, http_delay_s=0)
        arxiv.records = [{**r, "first_seen_date": min(week)} for r in records[:300]] + records[300:]
        reports = dict(quickstart.import_live(sqlite_db, settings, today=today))

    assert all(report.ok for report in reports.values())
    listed = hf_entries([HF_API_DIR / f"{day}.json" for day in sorted(week)
                         if (HF_API_DIR / f"{day}.json").exists()])  # fmt: skip
    assert (
        reports["hf-daily"].saved.entries.inserted
        == len(listed)
        == count(sqlite_db, "daily_entries")
    )
    assert (
        reports["arxiv oai"].saved.papers.inserted + reports["arxiv oai"].saved.papers.updated
        == 300
    )
