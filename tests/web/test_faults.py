"""Faults under a live `paperfeed serve`: a web worker SIGKILLed in the middle of a stream of votes
and comments, and PostgreSQL terminating the app's connections while requests run. No
acknowledged write is lost, a retried vote counts once, and only in-flight requests fail."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from support.accounts import import_days, make_user

from paperfeed.community import accounts
from paperfeed.store.db import Database
from paperfeed.store.models import CommentRow, PaperRow, UpvoteRow

CLIENTS = 4
RATES = {a: "1000000/1m" for a in ("vote.user", "vote.addr", "comment.user", "comment.addr")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under the `serve` supervisor (multiprocessing spawns them)."""
    found = []
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(child)
    return found


class Site:
    """`paperfeed serve` on a database holding two real daily lists and CLIENTS accounts."""

    def __init__(self, db: Database, home: Path, workers: int) -> None:
        import_days(db)
        self.tokens = []
        for number in range(CLIENTS):
            user = make_user(db, f"fault{number}")
            with db.transaction() as session:
                self.tokens.append(accounts.create_token(session, user).secret)
        with db.sessions() as session:
            self.papers = list(session.scalars(select(PaperRow.id).order_by(PaperRow.id).limit(30)))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PAPERFEED_HOME": str(home),
            "PAPERFEED_DATABASE_URL": db.url,
            "PAPERFEED_RATE_LIMITS": json.dumps(RATES),
            "PAPERFEED_SEARCH_DENSE": "false",
            "PAPERFEED_LOG_LEVEL": "ERROR",
        }
        command = [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(port)]
        self.process = subprocess.Popen([*command, "--workers", str(workers)], env=env)
        self.wait_until_up(workers)

    def wait_until_up(self, workers: int) -> None:
        deadline = time.monotonic() + 60
        seen: object = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited"
            try:
                if (
                    httpx.get(f"{self.url}/api/status", timeout=5).status_code == 200
                    and len(_workers(self.process.pid)) == workers
                ):
                    return
            except httpx.TransportError as error:
                seen = error
            time.sleep(0.2)
        raise AssertionError(f"the server did not come up: {seen!r}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Writers:
    """CLIENTS threads, each upvoting every paper in turn and commenting on every fifth; a vote
    that fails is sent again (votes are idempotent), a failed comment is not (it may be in)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.acked_votes: set[tuple[int, str]] = set()
        self.acked_comments: set[int] = set()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self.threads:
            thread.join(timeout=120)

    def acked(self) -> int:
        with self.lock:
            return len(self.acked_votes) + len(self.acked_comments)

    def _post(
        self, http: httpx.Client, path: str, body: dict | None = None
    ) -> httpx.Response | None:
        try:
            response = http.post(path, json=body)
        except httpx.TransportError as error:
            with self.lock:
                self.failures.append(f"{type(error).__name__} {path}")
            return None
        if response.status_code >= 300:
            with self.lock:
                self.failures.append(f"{response.status_code} {path}")
            return None
        return response

    def _run(self, number: int) -> None:
        auth = {"Authorization": f"Bearer {self.site.tokens[number]}"}
        with httpx.Client(base_url=self.site.url, headers=auth, timeout=30) as http:
            for index, paper in enumerate(self.site.papers):
                for _attempt in range(5):
                    if self._post(http, f"/api/papers/{paper}/upvote"):
                        with self.lock:
                            self.acked_votes.add((number, paper))
                        break
                    time.sleep(0.2)
                if index % 5 == 0:
                    body = {"body": f"fault test {number} on {paper}"}
                    if answer := self._post(http, f"/api/papers/{paper}/comments", body):
                        with self.lock:
                            self.acked_comments.add(answer.json()["id"])


def _check_store(db: Database, writers: Writers, base_counts: dict[str, int]) -> None:
    """Every acknowledged write is in; each paper's counter counts each stored vote once."""
    with db.sessions() as session:
        users = {
            row.username: row.id
            for row in session.execute(text("SELECT id, username FROM users")).mappings()
        }
        votes = set(session.execute(select(UpvoteRow.user_id, UpvoteRow.paper_id)).tuples())
        comments = set(session.scalars(select(CommentRow.id)))
        local = {p: c for p, c in session.execute(select(PaperRow.id, PaperRow.upvotes_local))}
        per_paper: dict[str, int] = {}
        for _user, paper in votes:
            per_paper[paper] = per_paper.get(paper, 0) + 1
    acked = {(users[f"fault{n}"], paper) for n, paper in writers.acked_votes}
    assert acked <= votes
    assert writers.acked_comments <= comments
    for paper, count in local.items():
        assert (count or 0) - base_counts.get(paper, 0) == per_paper.get(paper, 0), paper


def test_a_web_worker_killed_mid_write_loses_no_acknowledged_write(
    db: Database, tmp_path: Path
) -> None:
    site = Site(db, tmp_path / "home", workers=2)
    with db.sessions() as session:
        base = {p: c or 0 for p, c in session.execute(select(PaperRow.id, PaperRow.upvotes_local))}
    try:
        with Writers(site) as writers:
            while writers.acked() < 40:
                time.sleep(0.05)
            victim = _workers(site.process.pid)[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = writers.acked()
        print(f"worker {victim} killed; failed requests: {writers.failures}")
        # Only the requests in flight on the killed worker failed: at most one per client.
        assert len(writers.failures) <= CLIENTS, writers.failures
        assert writers.acked() > killed_at  # the site went on taking writes
        assert len(writers.acked_votes) == CLIENTS * len(site.papers)  # retries got them all in
        site.wait_until_up(workers=2)  # uvicorn's supervisor started a new worker
        _check_store(db, writers, base)

        # Sending every vote again changes nothing: the import of votes is idempotent.
        with db.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(UpvoteRow))
        again = Writers(site)
        again._run(0)
        with db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(UpvoteRow)) == stored
    finally:
        site.close()


def test_postgresql_connections_killed_under_the_app(db: Database, tmp_path: Path) -> None:
    """pg_terminate_backend on every connection of the app, three times while it takes writes:
    the pool (pool_pre_ping) reconnects, so only requests running at that instant may fail."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    site = Site(db, tmp_path / "home", workers=2)
    with db.sessions() as session:
        base = {p: c or 0 for p, c in session.execute(select(PaperRow.id, PaperRow.upvotes_local))}
    database = db.engine.url.database
    terminated = 0
    try:
        with Writers(site) as writers:
            for kill in range(3):
                while writers.acked() < 20 * (kill + 1):
                    time.sleep(0.02)
                with db.engine.connect() as connection:
                    terminated += len(
                        connection.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :db AND pid <> pg_backend_pid()"
                            ),
                            {"db": database},
                        ).all()
                    )
        assert terminated >= 3
        print(f"terminated {terminated} backends; failed requests: {writers.failures}")
        assert len(writers.failures) <= 3 * CLIENTS, writers.failures  # in-flight ones only
        assert len(writers.acked_votes) == CLIENTS * len(site.papers)
        with httpx.Client(base_url=site.url, timeout=30) as http:  # the next requests succeed
            for paper in site.papers[:10]:
                assert http.get(f"/api/papers/{paper}").status_code == 200
        _check_store(db, writers, base)
    finally:
        site.close()
