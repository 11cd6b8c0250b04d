"""Submitting papers: looked up or fetched from arXiv, featured today, every rule enforced."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL
from support.accounts import DAY_FILES, make_user
from support.arxiv_api_server import ArxivApiServer
from support.files import arxiv_subset, hf_entries

from paperfeed.community import submissions
from paperfeed.community.limits import DEFAULT_RATES, Limits
from paperfeed.community.submissions import SubmissionRefused, SubmissionRules
from paperfeed.domain import Paper
from paperfeed.feed import feed_page
from paperfeed.ingest import arxiv_jsonl
from paperfeed.ingest.http import RemoteError
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.db import Database

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)


@pytest.fixture
def arxiv_records(tmp_path: Path) -> list[dict]:
    """Five real snapshot records, as the arXiv API would serve them: fresh, and a month old."""
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "subset.jsonl.gz", 5)
    ages = [2, 6, 1, 30, 3]
    return [
        r | {"published": NOW - timedelta(days=age)} for r, age in zip(records, ages, strict=True)
    ]


@pytest.fixture
def arxiv_api(arxiv_records: list[dict]) -> Iterator[ArxivApiServer]:
    with ArxivApiServer(arxiv_records) as server:
        yield server


def _submit(db: Database, user, text: str, server, rules=SubmissionRules(), now=NOW, fetch=None):
    settings = Settings(arxiv_api_url=server.url if server else "", http_timeout_s=10)
    with db.transaction() as session:
        return submissions.submit_paper(
            session, user, text, fetch=fetch or submissions.arxiv_fetcher(settings),
            limits=Limits(db.sessions, DEFAULT_RATES), client="10.0.0.1", rules=rules, now=now,
        )  # fmt: skip


def test_a_new_paper_is_fetched_stored_and_featured_today(
    data_db: Database, arxiv_api: ArxivApiServer, arxiv_records: list[dict]
) -> None:
    user = make_user(data_db, "scout")
    record = arxiv_records[0]

    entry = _submit(data_db, user, f"https://arxiv.org/abs/{record['id']}v1", arxiv_api)

    assert arxiv_api.requests == [record["id"]]
    assert entry.day == NOW.date() and entry.submitted_by.username == "scout"
    with data_db.sessions() as session:
        paper = reader.get_paper(session, record["id"])
        today = feed_page(session, None, page_size=100)  # the latest day is now today
    assert paper.title == record["title"] and paper.abstract == record["abstract"]
    assert [a.name for a in paper.authors] == record["authors_list"]
    assert paper.categories == record["categories"].split()
    assert paper.published_at == record["published"].replace(microsecond=0)
    assert today.period.first == NOW.date()
    assert [(e.paper.arxiv_id, e.submitted_by.username) for e in today.entries] == [
        (record["id"], "scout")
    ]


def test_a_stored_paper_is_looked_up_without_asking_arxiv(
    sqlite_db: Database, arxiv_api: ArxivApiServer, tmp_path: Path
) -> None:
    records = arxiv_subset(ARXIV_JSONL, tmp_path / "stored.jsonl.gz", 3)
    arxiv_jsonl.import_file(sqlite_db, tmp_path / "stored.jsonl.gz")
    user = make_user(sqlite_db, "reader")
    announced = datetime.fromisoformat(records[2]["first_seen_date"]).replace(tzinfo=UTC)

    entry = _submit(sqlite_db, user, f"arXiv:{records[2]['id']}", arxiv_api, now=announced)

    assert entry.paper.arxiv_id == records[2]["id"] and arxiv_api.requests == []


def test_every_refusal_says_why(
    data_db: Database, arxiv_api: ArxivApiServer, arxiv_records: list[dict]
) -> None:
    user = make_user(data_db, "eager")
    listed = hf_entries([DAY_FILES[1]])[0]["paper"]["id"]
    old = arxiv_records[3]["id"]

    def refusal(text: str, rules=SubmissionRules()) -> tuple[int, str]:
        with pytest.raises(SubmissionRefused) as refused:
            _submit(data_db, user, text, arxiv_api, rules)
        return refused.value.status, str(refused.value)

    assert refusal("not a paper") == (
        422, "'not a paper' is not an arXiv id or arXiv URL "
        "(e.g. 2506.08007 or https://arxiv.org/abs/2506.08007).",
    )  # fmt: skip
    assert refusal("2611.99999") == (404, "arXiv has no paper 2611.99999.")
    status, message = refusal(old)
    assert status == 422 and "more than 7 days ago" in message
    assert message.startswith(f"{old} was published on {arxiv_records[3]['published']:%Y-%m-%d}")
    assert refusal(listed) == (409, f"{listed} is already on the daily list of 2025-10-03.")
    # The age rule is a setting: the same old paper passes with a 60-day window.
    assert _submit(data_db, user, old, arxiv_api, SubmissionRules(max_age_days=60)).paper
    assert refusal(old, SubmissionRules(max_age_days=60))[0] == 409  # now a duplicate

    arxiv_api.status = 503
    status, message = refusal(arxiv_records[4]["id"])
    assert status == 503 and "try again later" in message
    arxiv_api.status = 200
    with data_db.sessions() as session:
        assert reader.get_paper(session, "2611.99999") is None


def test_one_user_submits_at_most_the_daily_cap(
    data_db: Database, arxiv_api: ArxivApiServer, arxiv_records: list[dict]
) -> None:
    user, friend = make_user(data_db, "busy"), make_user(data_db, "friend")
    rules = SubmissionRules(daily_cap=2)
    for record in arxiv_records[:2]:
        _submit(data_db, user, record["id"], arxiv_api, rules)

    with pytest.raises(SubmissionRefused, match="made 2 submissions today") as refused:
        _submit(data_db, user, arxiv_records[2]["id"], arxiv_api, rules)
    assert refused.value.status == 429
    assert _submit(data_db, friend, arxiv_records[2]["id"], arxiv_api, rules)  # others still can
    tomorrow = NOW + timedelta(days=1)
    assert _submit(data_db, user, arxiv_records[4]["id"], arxiv_api, rules, now=tomorrow)


def test_failed_fetches_count_toward_the_cap(
    data_db: Database, arxiv_api: ArxivApiServer, arxiv_records: list[dict]
) -> None:
    """Audit finding: a fetch arXiv failed on did not count, so a cap never stopped retries."""
    user = make_user(data_db, "retrier")
    rules = SubmissionRules(daily_cap=2)
    arxiv_api.status = 503
    for record in arxiv_records[:2]:
        with pytest.raises(SubmissionRefused) as failed:
            _submit(data_db, user, record["id"], arxiv_api, rules)
        assert failed.value.status == 503
    asked = len(arxiv_api.requests)
    with pytest.raises(SubmissionRefused, match="made 2 submissions today") as capped:
        _submit(data_db, user, arxiv_records[2]["id"], arxiv_api, rules)
    assert capped.value.status == 429 and len(arxiv_api.requests) == asked  # arXiv not asked


def test_concurrent_submits_never_pass_the_cap(data_db: Database) -> None:
    """Audit finding: 8 concurrent submits against a cap of 5 all went in."""
    user = make_user(data_db, "racer")
    rules = SubmissionRules(daily_cap=5)

    def fetch(arxiv_id: str) -> Paper:
        time.sleep(0.05)  # a slow arXiv widens the window the old check-then-insert left
        return Paper(arxiv_id=arxiv_id, title=f"Paper {arxiv_id}", published_at=NOW)

    def submit(number: int) -> int:
        try:
            _submit(data_db, user, f"2611.{number:05d}", None, rules, fetch=fetch)
        except SubmissionRefused as error:
            return error.status
        return 201

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(submit, range(8)))
    assert sorted(statuses) == [201] * 5 + [429] * 3


def test_a_slow_arxiv_holds_at_most_a_few_requests(arxiv_records: list[dict]) -> None:
    """Audit finding: with arXiv answering in 12 s, 45 submits tied up every worker thread."""
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(10)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fetch = submissions.arxiv_fetcher(
        Settings(arxiv_api_url=f"http://127.0.0.1:{server.server_address[1]}/api/query")
    )

    def timed(arxiv_id: str) -> float:
        started = time.monotonic()
        with pytest.raises(RemoteError):
            fetch(arxiv_id)
        return time.monotonic() - started

    try:
        with ThreadPoolExecutor(6) as pool:
            waits = pool.map(timed, [f"2611.0000{n}" for n in range(6)])
            time.sleep(0.5)
            release.set()
            waits = list(waits)
    finally:
        server.shutdown()
        server.server_close()
    assert sum(wait < 0.4 for wait in waits) == 6 - submissions.ARXIV_FETCHES_AT_ONCE
    assert max(waits) < submissions.ARXIV_TIMEOUT_S
