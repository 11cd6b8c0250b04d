"""Faults under a live `paperfeed serve`: a web worker SIGKILLed in the middle of a stream of votes
and comments, PostgreSQL terminating the app's connections while requests run, and a PostgreSQL
server restarted (and crashed) under load. No acknowledged write is lost, a retried vote counts
once, and only requests made while the database is away fail, cleanly."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from support import private_postgres
from support.accounts import PASSWORD, csrf_of, import_days, log_in, make_user

from paperfeed.community import accounts
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import CommentRow, PaperRow, UpvoteRow
from paperfeed.web.app import create_app

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
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "serve.log"  # what the supervisor and its workers print
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)], env=env, stdout=log, stderr=log
            )
        try:
            self.wait_until_up(workers)
        except BaseException:
            self.close()
            raise

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

    def tracebacks(self) -> str:
        """The server's log from its first traceback on ("" when it printed none): an error
        that escaped every handler (a 500, or one raised after the answer was sent)."""
        printed = self.log.read_text(errors="replace")
        return printed[printed.index("Traceback") :][:4000] if "Traceback" in printed else ""


@dataclass(frozen=True)
class Sent:
    """One request a test client made: when (monotonic seconds), what, and what came back."""

    start: float
    end: float
    what: str
    status: int | None  # None: no HTTP answer (the error's name is in `error`)
    error: str = ""

    def failed(self) -> bool:
        return self.status is None or self.status >= 400

    def __str__(self) -> str:
        return f"{self.status or self.error} {self.what} ({self.end - self.start:.2f} s)"


class Writers:
    """CLIENTS threads, each upvoting every paper in turn and commenting on every fifth; a vote
    that fails is sent again (votes are idempotent) up to `attempts` times, a failed comment is
    not (it may be in). With `until`, they go round the papers again until it is set."""

    def __init__(
        self, site: Site, *, attempts: int = 5, until: threading.Event | None = None
    ) -> None:
        self.site = site
        self.attempts = attempts
        self.until = until
        self.acked_votes: set[tuple[int, str]] = set()
        self.acked_comments: set[int] = set()
        self.failures: list[str] = []
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.until is not None:
            self.until.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def acked(self) -> int:
        with self.lock:
            return len(self.acked_votes) + len(self.acked_comments)

    def _post(
        self, http: httpx.Client, path: str, body: dict | None = None
    ) -> httpx.Response | None:
        start = time.monotonic()
        try:
            response = http.post(path, json=body)
        except httpx.TransportError as error:
            with self.lock:
                self.failures.append(f"{type(error).__name__} {path}")
                self.sent.append(Sent(start, time.monotonic(), f"POST {path}", None, str(error)))
            return None
        with self.lock:
            self.sent.append(Sent(start, time.monotonic(), f"POST {path}", response.status_code))
        if response.status_code >= 300:
            with self.lock:
                self.failures.append(f"{response.status_code} {path}")
            return None
        return response

    def _run(self, number: int) -> None:
        auth = {"Authorization": f"Bearer {self.site.tokens[number]}"}
        with httpx.Client(base_url=self.site.url, headers=auth, timeout=30) as http:
            for round_ in itertools.count():
                for index, paper in enumerate(self.site.papers):
                    for _attempt in range(self.attempts):
                        if self._post(http, f"/api/papers/{paper}/upvote"):
                            with self.lock:
                                self.acked_votes.add((number, paper))
                            break
                        time.sleep(0.2)
                    if index % 5 == 0:
                        body = {"body": f"fault test {number} on {paper}, round {round_}"}
                        if answer := self._post(http, f"/api/papers/{paper}/comments", body):
                            with self.lock:
                                self.acked_comments.add(answer.json()["id"])
                if self.until is None or self.until.is_set():
                    return


class Readers:
    """Three threads reading pages and API answers until `until` is set: a visitor (answered
    from the page cache while the site version holds), a client sending a token and a person
    logged in through the form (their answers are rendered for them: each read reaches the
    database)."""

    def __init__(self, site: Site, until: threading.Event) -> None:
        self.site = site
        self.until = until
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        token = {"Authorization": f"Bearer {site.tokens[0]}"}
        self.clients = [httpx.Client(base_url=site.url, headers=h, timeout=30) for h in ({}, token)]
        person = httpx.Client(base_url=site.url, timeout=30, follow_redirects=True)
        form = {"csrf_token": csrf_of(person.get("/login").text), "password": PASSWORD}
        assert person.post("/login", data={**form, "username": "fault1"}).status_code == 200
        self.clients.append(person)
        self.threads = [
            threading.Thread(target=self._run, args=(client,), daemon=True)
            for client in self.clients
        ]

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.until.set()
        for thread in self.threads:
            thread.join(timeout=60)
        for client in self.clients:
            client.close()

    def _run(self, http: httpx.Client) -> None:
        papers = self.site.papers[:8]
        paths = ["/", "/api/status", *(f"/papers/{p}" for p in papers)]
        paths += [f"/api/papers/{p}" for p in papers]
        for path in itertools.cycle(paths):
            if self.until.is_set():
                return
            start = time.monotonic()
            try:
                status = http.get(path).status_code
                sent = Sent(start, time.monotonic(), f"GET {path}", status)
            except httpx.TransportError as error:
                sent = Sent(start, time.monotonic(), f"GET {path}", None, str(error))
            with self.lock:
                self.sent.append(sent)
            time.sleep(0.05)


def _counts(db: Database) -> dict[str, tuple[int, int]]:
    """Each paper's vote and comment counters, (upvotes_local, comments_local)."""
    with db.sessions() as session:
        rows = session.execute(select(PaperRow.id, PaperRow.upvotes_local, PaperRow.comments_local))
        return {paper: (votes or 0, comments or 0) for paper, votes, comments in rows}


def _check_store(db: Database, writers: Writers, base: dict[str, tuple[int, int]]) -> None:
    """Every acknowledged write is in; each paper's counters count each stored vote and comment
    once."""
    with db.sessions() as session:
        users = {
            row.username: row.id
            for row in session.execute(text("SELECT id, username FROM users")).mappings()
        }
        votes = set(session.execute(select(UpvoteRow.user_id, UpvoteRow.paper_id)).tuples())
        comments = {c: p for c, p in session.execute(select(CommentRow.id, CommentRow.paper_id))}
    acked = {(users[f"fault{n}"], paper) for n, paper in writers.acked_votes}
    assert acked <= votes
    assert writers.acked_comments <= comments.keys()
    votes_of = Counter(paper for _user, paper in votes)
    comments_of = Counter(comments.values())
    for paper, (upvotes, commented) in _counts(db).items():
        assert upvotes - base.get(paper, (0, 0))[0] == votes_of[paper], paper
        assert commented - base.get(paper, (0, 0))[1] == comments_of[paper], paper


def test_a_web_worker_killed_mid_write_loses_no_acknowledged_write(
    db: Database, tmp_path: Path
) -> None:
    site = Site(db, tmp_path / "home", workers=2)
    base = _counts(db)
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
    base = _counts(db)
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
        assert not site.tracebacks(), site.tracebacks()
    finally:
        site.close()


@pytest.fixture
def own_postgres() -> Iterator[private_postgres.PrivatePostgres]:
    """A PostgreSQL server for one test alone (the shared one on 5432 is never restarted)."""
    if reason := private_postgres.unavailable():
        pytest.skip(reason)
    server = private_postgres.PrivatePostgres()
    try:
        yield server
    finally:
        server.close()


def test_while_postgresql_is_down_the_site_answers_503_and_then_recovers(
    own_postgres: private_postgres.PrivatePostgres,
) -> None:
    """With the server stopped, pages (to a logged-in reader too), API answers and writes get a
    503 saying the database is away, with Retry-After; once it is back, the same requests work
    on the same app, its pooled connections replaced."""
    with Database(own_postgres.url) as db:
        import_days(db)
        make_user(db, "ada")
        settings = Settings(database_url=db.url, embed_in_background=False, digest_schedule=False)
        with TestClient(create_app(settings, db)) as person, TestClient(person.app) as visitor:
            csrf = log_in(person, "ada")
            paper = _first_paper_of(visitor)
            requests = [
                (visitor, "GET", "/", None), (visitor, "GET", "/api/status", None),
                (visitor, "GET", f"/api/papers/{paper}", None), (person, "GET", "/", None),
                (person, "GET", f"/papers/{paper}", None),
                (person, "POST", f"/papers/{paper}/comments", {"csrf_token": csrf, "body": "hi"}),
            ]  # fmt: skip
            for client, method, path, form in requests:
                assert client.request(method, path, data=form).status_code == 200, path
            own_postgres.stop("fast")
            try:
                for client, method, path, form in requests:
                    answer = client.request(method, path, data=form)
                    assert answer.status_code == 503, (path, answer.text[:300])
                    assert answer.headers["retry-after"] == "5"
                    assert "The database is not answering" in answer.text
            finally:
                own_postgres.start()
            for client, method, path, form in requests:
                assert client.request(method, path, data=form).status_code == 200, path
        with db.sessions() as session:  # the comment sent while the server was away is not in
            assert session.scalar(select(func.count()).select_from(CommentRow)) == 2


def _first_paper_of(client: TestClient) -> str:
    return str(client.get("/api/daily_papers").json()[0]["paper"]["id"])


BACK_WITHIN_S = 15  # the site answers again this soon after PostgreSQL accepts connections
REQUEST_WITHIN_S = 10  # no request hangs longer, database or not


def _restart_fast(server: private_postgres.PrivatePostgres) -> None:
    server.restart("fast")  # every connection cut, a checkpoint, up again in a fraction of a second


def _crash_for_two_seconds(server: private_postgres.PrivatePostgres) -> None:
    server.stop("immediate")  # as if the server crashed: it recovers from its WAL on start
    time.sleep(2)
    server.start()


def _answering(site: Site, deadline: float) -> float:
    """When the site first answered a read that needs the database (monotonic seconds)."""
    seen: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{site.url}/api/status", timeout=5)
            if response.status_code == 200:
                return time.monotonic()
            seen = response.status_code
        except httpx.TransportError as error:
            seen = error
        time.sleep(0.1)
    raise AssertionError(f"the site did not answer within {BACK_WITHIN_S} s: {seen!r}")


@dataclass
class Outage:
    """One bounce of the server: when it went away, came back, and the site answered again."""

    name: str
    away: float
    back: float
    answering: float

    def covers(self, request: Sent, slack_s: float = 0.0) -> bool:
        """Whether the request was on its way while the database was away or the site not yet
        answering."""
        return request.end >= self.away and request.start <= self.answering + slack_s


def _kind(request: Sent) -> str:
    """What a request was, in short: "POST upvote", "GET /api", "GET page"."""
    method, path = request.what.split(" ", 1)
    if method == "POST":
        return f"{method} {path.rsplit('/', 1)[1]}"
    return f"{method} {'/api' if path.startswith('/api/') else 'page'}"


def test_postgresql_restarted_under_load(
    own_postgres: private_postgres.PrivatePostgres, tmp_path: Path
) -> None:
    """A fast restart, then a crash and two seconds down, while CLIENTS writers vote and comment
    and two readers read: requests fail only while the database is away, each with a quick 503;
    the site answers within BACK_WITHIN_S of the server's return; no acknowledged write is lost
    or counted twice; the workers live on."""
    with Database(own_postgres.url) as db:
        site = Site(db, tmp_path / "home", workers=2)
        try:
            base = _counts(db)
            workers = set(_workers(site.process.pid))
            stop = threading.Event()
            outages: list[Outage] = []
            with Readers(site, stop) as readers, Writers(site, attempts=150, until=stop) as writers:
                for number, bounce in enumerate((_restart_fast, _crash_for_two_seconds)):
                    while writers.acked() < 30 * (number + 1):
                        time.sleep(0.02)
                    away = time.monotonic()
                    bounce(own_postgres)
                    back = time.monotonic()
                    answering = _answering(site, back + BACK_WITHIN_S)
                    outages.append(Outage(bounce.__name__[1:], away, back, answering))
                acked = writers.acked()
                deadline = time.monotonic() + 30
                while writers.acked() < acked + 10 and time.monotonic() < deadline:
                    time.sleep(0.05)  # writes go on after the second outage
            _report(writers.sent + readers.sent, outages)
            # The site took writes again, and retries got every vote in; workers lived on.
            assert writers.acked() > acked
            assert len(writers.acked_votes) == CLIENTS * len(site.papers)
            assert site.process.poll() is None and set(_workers(site.process.pid)) == workers
            _check_store(db, writers, base)
            assert not site.tracebacks(), site.tracebacks()
        finally:
            site.close()


def _report(sent: list[Sent], outages: list[Outage]) -> None:
    """Print what failed in each outage; check that only requests made then failed, each with a
    quick 503 (no connection dropped by a dying worker, no hang), and that some did."""
    failed = [request for request in sent if request.failed()]
    for outage in outages:
        during = [request for request in failed if outage.covers(request)]
        print(
            f"{outage.name}: database away {outage.back - outage.away:.2f} s, the site answering"
            f" {outage.answering - outage.back:.2f} s after it was back; {len(during)} requests"
            f" failed: {dict(Counter(f'{r.status or r.error} {_kind(r)}' for r in during))}"
        )
    print(f"{len(sent)} requests, {len(failed)} failed; first ones: {[str(r) for r in failed[:8]]}")
    outside = [r for r in failed if not any(o.covers(r, slack_s=1.0) for o in outages)]
    assert not outside, [str(r) for r in outside]
    assert all(r.status == 503 for r in failed), [str(r) for r in failed if r.status != 503]
    slowest = max(sent, key=lambda request: request.end - request.start)
    slowest_failed = max(failed, key=lambda request: request.end - request.start, default=None)
    print(f"slowest request: {slowest}; slowest failed one: {slowest_failed}")
    assert slowest.end - slowest.start < REQUEST_WITHIN_S, str(slowest)
    assert any(outages[-1].covers(request) for request in failed)  # the crash came under load
