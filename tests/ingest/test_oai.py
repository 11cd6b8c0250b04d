"""Harvesting arXiv over OAI-PMH from a real loopback repository serving real arXiv records."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL
from sqlalchemy import func, select
from support.oai_server import OaiServer, load_records

from paperfeed.ingest import oai
from paperfeed.ingest.http import RemoteError
from paperfeed.settings import get_settings
from paperfeed.store.db import Database
from paperfeed.store.models import CheckpointRow, PaperRow
from paperfeed.store.reader import get_paper
from paperfeed.store.writer import read_checkpoint

RECORDS = load_records(ARXIV_JSONL, 1000)
FROM = date(2025, 3, 1)  # before every served record's datestamp


class RecordingProgress:
    def __init__(self) -> None:
        self.starts: list[tuple[str, int | None]] = []
        self.advanced = 0

    def start(self, description: str, total: int | None) -> None:
        self.starts.append((description, total))

    def advance(self, amount: int = 1) -> None:
        self.advanced += amount


def harvest(db: Database, server: OaiServer, **options) -> oai.HarvestReport:
    options = {"from_date": FROM, "set_spec": "cs", "delay_s": 0, **options}
    return oai.harvest(db, url=server.url, settings=get_settings(), **options)


def stored_ids(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(PaperRow.id)))


def checkpoint(db: Database, server: OaiServer, set_spec: str = "cs") -> dict | None:
    with db.transaction() as session:
        return read_checkpoint(session, oai.checkpoint_key(server.url, set_spec, FROM, None))


def with_defects(records: list[dict]) -> list[dict]:
    """A copy of `records` with one title missing, one id missing and one record deleted."""
    records = copy.deepcopy(records)
    records[10]["title"] = None
    records[150]["oai_id"], records[150]["id"] = records[150]["id"], None
    records[20]["deleted"] = True
    return records


def test_full_harvest_saves_every_record_once_and_waits_out_a_503(db: Database) -> None:
    progress = RecordingProgress()
    with OaiServer(RECORDS, page_size=100) as server:
        server.busy_page, server.busy_times = 3, 1
        report = harvest(db, server, progress=progress)

    ids = stored_ids(db)
    assert len(ids) == len(RECORDS) == 1000
    assert sorted(ids) == sorted(r["id"] for r in RECORDS)
    assert report.saved.papers.inserted == 1000
    assert (report.pages, report.records, report.rejected) == (10, 1000, [])
    assert progress.starts == [("oai cs", 1000)] and progress.advanced == 1000
    assert checkpoint(db, server) is None

    first, *following = server.requests
    assert first.params == {
        "verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2025-03-01", "set": "cs",
    }  # fmt: skip
    assert all(set(r.params) == {"verb", "resumptionToken"} for r in following)
    busy = [n for n, r in enumerate(server.requests) if r.status == 503]
    assert len(busy) == 1
    refused, retried = server.requests[busy[0]], server.requests[busy[0] + 1]
    assert retried.params == refused.params and retried.status == 200
    assert retried.at - refused.at >= 0.9  # Retry-After: 1 was honoured

    records = {r["id"]: r for r in RECORDS}
    # LaTeX and '&' in titles, '<' in an abstract, a one-word author, a paper updated later.
    for arxiv_id in ("2503.12827", "2503.14797", "2503.13051", "2503.14492", "2503.11731"):
        expected = records[arxiv_id]
        with db.transaction() as session:
            paper = get_paper(session, arxiv_id)
        assert paper is not None
        # arXiv's line wrapping is kept as data, like the snapshot's; only the words matter.
        assert " ".join(paper.title.split()) == " ".join(expected["title"].split())
        assert " ".join(paper.abstract.split()) == " ".join(expected["abstract"].split())
        assert paper.abstract == paper.abstract.strip()
        assert [a.name for a in paper.authors] == expected["authors_list"]
        assert paper.categories == expected["categories"].split()
        assert paper.comments == expected["comments"]
        first_seen = date.fromisoformat(expected["first_seen_date"])
        assert paper.published_at == datetime(*first_seen.timetuple()[:3], tzinfo=UTC)
        assert paper.version is None
        # A first version is announced on its datestamp; a replaced one's first day is unknown.
        updated = expected["last_seen_date"] != expected["first_seen_date"]
        assert paper.announced_on == (None if updated else first_seen)


def test_harvesting_again_changes_nothing(db: Database) -> None:
    with OaiServer(RECORDS[:300], page_size=100) as server:
        harvest(db, server)
        again = harvest(db, server)
    papers = again.saved.papers
    assert (papers.inserted, papers.updated, papers.unchanged) == (0, 0, 300)
    assert len(stored_ids(db)) == 300


def test_window_and_set_select_records_by_datestamp_and_category(sqlite_db: Database) -> None:
    with OaiServer(RECORDS, page_size=50) as server:
        expected = server.matching("2025-03-19", "2025-03-21", "eess")
        harvest(
            sqlite_db, server, from_date=date(2025, 3, 19), until_date=date(2025, 3, 21),
            set_spec="eess",
        )  # fmt: skip
    assert 0 < len(expected) < len(RECORDS)
    assert sorted(stored_ids(sqlite_db)) == sorted(r["id"] for r in expected)


def test_killed_harvest_resumes_from_the_last_committed_page(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'paperfeed.db'}"
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path), "PAPERFEED_DATABASE_URL": database_url}
    with OaiServer(RECORDS, page_size=100) as server:
        command = [
            sys.executable, "-m", "paperfeed.cli", "ingest", "oai", "--from", "2025-03-01",
            "--url", server.url, "--delay", "0",
        ]  # fmt: skip
        server.hold_page = 4
        killed = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert server.held.wait(timeout=30), "the harvest never asked for page 4"
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
        assert killed.returncode == -signal.SIGKILL
        pending = server.requests[-1]
        served_before = len(server.requests)
        db = Database(database_url)
        assert len(stored_ids(db)) == 300  # pages 1-3 committed, page 4 never arrived

        server.release()
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert resumed.returncode == 0, resumed.stderr
    assert "papers 700 new" in resumed.stdout
    requests = server.requests[served_before:]
    assert requests[0].params == {
        "verb": "ListRecords", "resumptionToken": pending.params["resumptionToken"],
    }  # fmt: skip
    assert [r.page for r in requests] == list(range(4, 11))  # never back to page 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PaperRow)) == len(RECORDS)
        assert session.scalar(select(func.count(func.distinct(PaperRow.id)))) == len(RECORDS)
        assert session.scalar(select(func.count()).select_from(CheckpointRow)) == 0
    assert sorted(stored_ids(db)) == sorted(r["id"] for r in RECORDS)
    db.close()


def test_records_without_id_or_title_are_rejected_by_name_and_deleted_ones_skipped(
    sqlite_db: Database,
) -> None:
    records = with_defects(RECORDS[:300])
    with OaiServer(records, page_size=100) as server:
        report = harvest(sqlite_db, server)

    untitled, unnamed = records[10]["id"], records[150]["oai_id"]
    assert sorted(map(str, report.rejected)) == [
        f"oai:arXiv.org:{untitled} (page 1, record 11): {untitled} has no <title>",
        f"oai:arXiv.org:{unnamed} (page 2, record 51): record has no <id>",
    ]
    assert report.deleted == 1 and report.records == 300
    kept = {r["id"] for n, r in enumerate(records) if n not in (10, 20, 150)}
    assert set(stored_ids(sqlite_db)) == kept


def test_cli_exits_3_and_names_rejected_records(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PAPERFEED_HOME": str(tmp_path),
        "PAPERFEED_DATABASE_URL": f"sqlite:///{tmp_path / 'paperfeed.db'}",
    }
    records = with_defects(RECORDS[:200])
    with OaiServer(records, page_size=100) as server:
        command = [
            sys.executable, "-m", "paperfeed.cli", "ingest", "oai", "--from", "2025-03-01",
            "--url", server.url, "--delay", "0",
        ]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "papers 197 new" in result.stdout
    assert f"{records[10]['id']} has no <title>" in result.stderr
    assert "(page 2, record 51): record has no <id>" in result.stderr


def test_no_records_match_is_an_empty_success(sqlite_db: Database) -> None:
    with OaiServer(RECORDS[:100]) as server:
        report = harvest(sqlite_db, server, from_date=date(2030, 1, 1))
        assert checkpoint(sqlite_db, server) is None
    assert report.saved.papers.inserted == 0 and report.ok and report.pages == 1
    assert stored_ids(sqlite_db) == []


def test_other_oai_errors_fail_with_their_code(sqlite_db: Database) -> None:
    with OaiServer(RECORDS[:100]) as server, pytest.raises(oai.OaiError) as error:
        harvest(sqlite_db, server, set_spec="no such set!")
    assert error.value.code == "badArgument"
    assert "badArgument" in str(error.value) and "no such set" in str(error.value)


def test_truncated_page_is_asked_for_again(sqlite_db: Database) -> None:
    with OaiServer(RECORDS[:300], page_size=100) as server:
        server.malformed_page, server.malformed_times = 2, 1
        report = harvest(sqlite_db, server)
    assert [r.page for r in server.requests] == [1, 2, 2, 3]
    assert report.saved.papers.inserted == 300 and report.ok


def test_malformed_page_fails_clearly_keeping_earlier_pages_then_resumes(
    sqlite_db: Database,
) -> None:
    records = with_defects(RECORDS[:500])
    with OaiServer(records, page_size=100) as server:
        server.malformed_page, server.malformed_times = 3, 99
        with pytest.raises(RemoteError, match=r"malformed XML from http://127\.0\.0\.1:\d+/oai\?"):
            harvest(sqlite_db, server)
        assert [r.page for r in server.requests] == [1, 2, 3, 3, 3]
        assert len(stored_ids(sqlite_db)) == 197  # pages 1 and 2, less three defective records
        assert checkpoint(sqlite_db, server)["pages"] == 2

        server.malformed_page = None
        served_before = len(server.requests)
        report = harvest(sqlite_db, server)
    assert [r.page for r in server.requests[served_before:]] == [3, 4, 5]
    assert len(stored_ids(sqlite_db)) == 497
    assert len(report.rejected) == 2  # found by the failed run, still reported at the end


def test_expired_token_on_resume_restarts_the_window(sqlite_db: Database) -> None:
    with OaiServer(RECORDS[:500], page_size=100) as server:
        server.malformed_page, server.malformed_times = 3, 99
        with pytest.raises(RemoteError):
            harvest(sqlite_db, server)
        server.malformed_page = None
        server.expire_tokens()
        served_before = len(server.requests)
        report = harvest(sqlite_db, server)

    expired, again, *rest = server.requests[served_before:]
    assert set(expired.params) == {"verb", "resumptionToken"} and expired.page is None
    assert again.params["from"] == "2025-03-01" and again.page == 1
    assert [r.page for r in rest] == [2, 3, 4, 5]
    assert report.restarts == 1 and report.ok
    assert (report.saved.papers.inserted, report.saved.papers.unchanged) == (300, 200)
    assert sorted(stored_ids(sqlite_db)) == sorted(r["id"] for r in RECORDS[:500])
    assert checkpoint(sqlite_db, server) is None


def test_hostile_xml_reaches_neither_files_nor_network(sqlite_db: Database, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")

    with OaiServer(RECORDS[:100]) as server:

        def inject_entities(page: int, body: bytes) -> bytes:
            doctype = (
                f'<!DOCTYPE OAI-PMH [<!ENTITY file SYSTEM "file://{secret}">'
                f'<!ENTITY net SYSTEM "{server.url}?verb=leak">]>\n'
            )
            body = body.replace(b"?>\n", b"?>\n" + doctype.encode(), 1)
            return body.replace(b"<title>", b"<title>&file;&net;", 1)

        server.tamper = inject_entities
        harvest(sqlite_db, server)

    assert [r.params["verb"] for r in server.requests] == ["ListRecords"]
    with sqlite_db.transaction() as session:
        titles = list(session.scalars(select(PaperRow.title)))
    assert len(titles) == 100 and not any("TOP-SECRET" in title for title in titles)
