"""Several nodes on one PostgreSQL behind nginx, with `paperfeed worker` doing the background work.

Real parts only: PostgreSQL (a fresh database), two `paperfeed serve` processes with their own data
folders, `paperfeed worker` processes, Debian's nginx running deploy/nginx.conf, and an aiosmtpd
server. The tests run in file order on one cluster; the last one kills a node.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from conftest import HF_API_DIR, POSTGRES_URL, _fresh_postgres_database
from sqlalchemy import select, text

from paperfeed.community import accounts
from paperfeed.digest import subscriptions
from paperfeed.digest.subscriptions import Interests
from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import UpvoteRow, UserRow

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs PAPERFEED_TEST_POSTGRES_URL (.ci/run)"),
    pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="needs Debian's nginx"),
]

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx.conf"
# What the site holds when the nodes start: a week of real daily lists (9 to 13 June 2025).
SEED_FILES = [HF_API_DIR / f"2025-06-{day:02d}.json" for day in range(9, 14)]
VOTE_PACE_S = 0.06  # a voter's votes this far apart at most (the kill test)
IMPORTED_LATER = HF_API_DIR / "2025-07-01.json"  # the worker imports it while the nodes run
DIGEST_DAY = "2025-06-12"
SUBSCRIBERS = [f"reader{n}@example.org" for n in range(3)]
PASSWORD = "correct horse battery"
SEARCHABLE_WITHIN_S = 30.0
UNLIMITED = {
    action: "1000000/1m" for action in ("vote.user", "vote.addr", "search.user", "search.addr")
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping every message it accepted."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold_address: str | None = None  # RCPT TO of this address waits until `release` is set
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.hold_address:
            self.hold_address = None
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(
            0.5
        )  # a slow server: the first worker still sends when the second starts
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


@dataclass
class Cluster:
    """The running site: node URLs, the nginx front, the database, the mailbox."""

    front: str
    nodes: dict[str, str]
    db: Database
    settings: Settings
    mailbox: Mailbox
    root: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str, home: str | None = None) -> subprocess.Popen:
        env = {**self.env, "PAPERFEED_HOME": str(self.root / (home or name))}
        log = (self.root / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "paperfeed.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        self.processes[name] = process
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}" for path in self.root.glob("*.log")
        )


def _nginx_config(root: Path, port: int, nodes: list[str]) -> Path:
    """deploy/nginx.conf with these node addresses and port, inside a minimal main config."""
    site = NGINX_CONF.read_text()
    servers = "".join(f"    server {node} max_fails=1 fail_timeout=10s;\n" for node in nodes)
    site = re.sub(r"(upstream paperfeed_nodes \{\n    least_conn;\n)(?:.*\n)*?(    keepalive)",
                  lambda m: m.group(1) + servers + m.group(2), site)  # fmt: skip
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    assert servers in site and f"127.0.0.1:{port}" in site, "deploy/nginx.conf changed shape"
    temp = root / "nginx-temp"
    temp.mkdir()
    main = f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{site}
}}
"""
    path = root / "nginx.conf"
    path.write_text(main)
    return path


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/status", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    database = _fresh_postgres_database()
    url = next(database)
    mailbox = Mailbox()
    smtp_port = _free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    ports = {"a": _free_port(), "b": _free_port()}
    front_port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")},
        "PAPERFEED_DATABASE_URL": url,
        "PAPERFEED_SEARCH_DENSE": "false",  # words only: no model to load in a 2-minute test
        "PAPERFEED_REPLICA_POLL_S": "1",
        "PAPERFEED_QUEUE_HEARTBEAT_S": "1",  # a killed worker counts as dead after 3 s
        "PAPERFEED_TRUSTED_PROXIES": '["127.0.0.1"]',
        "PAPERFEED_RATE_LIMITS": json.dumps(UNLIMITED),
        "PAPERFEED_BASE_URL": f"http://127.0.0.1:{front_port}",
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(smtp_port),
        "PAPERFEED_MAIL_FROM": "paperfeed <digest@paperfeed.test>",
        "PAPERFEED_LOG_LEVEL": "INFO",
    }
    settings = Settings(database_url=url, home=root / "test", search_dense=False)
    db = Database(url)  # migrated here, as `paperfeed db upgrade` does before the nodes start
    report = hf_daily.import_paths(db, SEED_FILES)
    assert report.ok, report.rejected
    nodes = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    site = Cluster(f"http://127.0.0.1:{front_port}", nodes, db, settings, mailbox, root, env)
    try:
        upgrade = subprocess.run(
            [sys.executable, "-m", "paperfeed.cli", "db", "upgrade"],
            env={**env, "PAPERFEED_HOME": str(root / "upgrade")},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stderr
        for name, port in ports.items():
            site.start(f"node-{name}", "serve", "--port", str(port))
        site.start("worker-1", "worker")
        nginx_conf = _nginx_config(root, front_port, [f"127.0.0.1:{p}" for p in ports.values()])
        site.processes["nginx"] = subprocess.Popen(
            ["/usr/sbin/nginx", "-c", str(nginx_conf), "-p", str(root)],
            stdout=(root / "nginx.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        for name in ports:
            _wait_for(nodes[name], site.processes[f"node-{name}"])
        _wait_for(site.front, site.processes["nginx"])
        yield site
    except BaseException:
        print(site.logs())
        raise
    finally:
        for process in site.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in site.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        smtp.stop()
        db.close()
        next(database, None)  # drops the database
        shutil.rmtree(root / "nginx-temp", ignore_errors=True)


def _user(cluster: Cluster, name: str) -> tuple[UserRow, str]:
    """An account and a personal API token for it."""
    with cluster.db.transaction() as session:
        user = accounts.create_user(session, name, f"{name}@example.org", PASSWORD)
        token = accounts.create_token(session, user, "cluster test")
    return user, token.secret


def _paper_ids(files: list[Path]) -> list[str]:
    return list(
        dict.fromkeys(entry["paper"]["id"] for f in files for entry in json.loads(f.read_text()))
    )


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def test_a_vote_through_one_node_is_counted_through_the_other(cluster: Cluster) -> None:
    _user(cluster, "alice")
    paper = _paper_ids(SEED_FILES)[0]
    node_a, node_b = cluster.nodes["a"], cluster.nodes["b"]
    before = httpx.get(f"{node_b}/api/papers/{paper}").json()["upvotes"]
    with httpx.Client(base_url=node_a) as browser:
        form = browser.get("/login")
        login = browser.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": _csrf(form.text)},
        )
        assert login.status_code == 303, login.text
        page = browser.get(f"/papers/{paper}")
        vote = browser.post(
            f"/papers/{paper}/upvote", data={"csrf_token": _csrf(page.text)},
            headers={"accept": "application/json"},
        )  # fmt: skip
        assert vote.json() == {"upvoted": True, "upvotes": before + 1}
        cookies = dict(browser.cookies)
    # Node B reads the count, and the session and CSRF token that node A made (one shared key).
    assert httpx.get(f"{node_b}/api/papers/{paper}").json()["upvotes"] == before + 1
    with httpx.Client(base_url=node_b, cookies=cookies) as browser:
        page = browser.get(f"/papers/{paper}")
        assert "alice" in page.text
        undo = browser.post(
            f"/papers/{paper}/upvote", data={"csrf_token": _csrf(page.text)},
            headers={"accept": "application/json"},
        )  # fmt: skip
        assert undo.json() == {"upvoted": False, "upvotes": before}
    assert httpx.get(f"{node_a}/api/papers/{paper}").json()["upvotes"] == before


def _found(node: str, title: str, paper: str) -> bool:
    answer = httpx.get(f"{node}/api/papers/search", params={"q": title}, timeout=10)
    return answer.status_code == 200 and paper in {hit["paper"]["id"] for hit in answer.json()}


def test_a_paper_the_worker_imports_is_found_on_every_node_within_30_s(cluster: Cluster) -> None:
    entry = json.loads(IMPORTED_LATER.read_text())[0]
    paper, title = entry["paper"]["id"], entry["paper"]["title"]
    assert not any(_found(node, title, paper) for node in cluster.nodes.values())
    queued = time.monotonic()  # from the operator's command on, its start-up included
    enqueue = subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", "ingest", "hf-daily", "--enqueue",
         str(IMPORTED_LATER)],
        env={**cluster.env, "PAPERFEED_HOME": str(cluster.root / "operator")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert enqueue.returncode == 0, enqueue.stderr
    assert "queued" in enqueue.stdout
    waiting = dict(cluster.nodes)
    found_after: dict[str, float] = {}
    while waiting and time.monotonic() - queued < SEARCHABLE_WITHIN_S:
        for name, node in list(waiting.items()):
            if _found(node, title, paper):
                found_after[name] = time.monotonic() - queued
                del waiting[name]
        time.sleep(0.5)
    assert not waiting, f"not searchable within {SEARCHABLE_WITHIN_S} s on {sorted(waiting)}"
    print(f"searchable after {found_after} s")


def _digest_jobs(cluster: Cluster, where: str) -> int:
    """How many of the queue's digest jobs match `where` (SQL on procrastinate_jobs)."""
    with cluster.db.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM procrastinate_jobs "
                     f"WHERE task_name = 'paperfeed:digest.send' AND {where}")
            ).scalar_one()
        )  # fmt: skip


def test_two_workers_racing_send_each_digest_once(cluster: Cluster) -> None:
    from paperfeed.jobs import queue, tasks

    with cluster.db.transaction() as session:
        for address in SUBSCRIBERS:
            row = subscriptions.request(session, address, "daily", Interests())
            subscriptions.confirm(session, row)
    second = cluster.start("worker-2", "worker")
    # Both workers wait for jobs before the two are deferred (a worker starting slowly on a busy
    # machine missed the race: the first one took both jobs).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        "Starting worker on" in (cluster.root / f"{worker}.log").read_text()
        for worker in ("worker-1", "worker-2")
    ):
        assert second.poll() is None, (cluster.root / "worker-2.log").read_text()[-2000:]
        time.sleep(0.2)
    assert second.poll() is None
    # The first job to send stops in its first mail's RCPT until the other job is taken too: the
    # worker holding it runs one job at a time, so the other worker must take the second.
    cluster.mailbox.hold_address = SUBSCRIBERS[0]
    with queue.opened(cluster.settings):
        for _ in range(2):  # the same period twice: each worker takes one job
            tasks.send_digests.defer(frequency="daily", day=DIGEST_DAY)
    assert cluster.mailbox.held.wait(60), "no worker began sending"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _digest_jobs(cluster, "status = 'todo'"):
        time.sleep(0.2)
    cluster.mailbox.release.set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = _digest_jobs(cluster, "status <> 'succeeded'")
        if left == 0 and all(cluster.mailbox.to(a) for a in SUBSCRIBERS):
            break
        time.sleep(0.5)
    time.sleep(2)  # a duplicate would arrive now
    for address in SUBSCRIBERS:
        received = cluster.mailbox.to(address)
        assert len(received) == 1, f"{address} got {len(received)} digests"
        assert str(received[0]["Subject"]).startswith("paperfeed: "), received[0]["Subject"]
        assert received[0].get_body(("plain",)) is not None
    ids = [str(m["Message-ID"]) for a in SUBSCRIBERS for m in cluster.mailbox.to(a)]
    assert len(set(ids)) == len(SUBSCRIBERS)
    # Each worker took one of the two jobs (their logs say so): the race did happen.
    for worker in ("worker-1", "worker-2"):
        log = (cluster.root / f"{worker}.log").read_text()
        assert "paperfeed:digest.send" in log and "ended with status: Success" in log, worker
    cluster.mailbox.held.clear()  # the next test holds a mail of its own
    cluster.mailbox.release.clear()


def test_a_worker_killed_mid_digest_loses_nothing_and_duplicates_nothing(cluster: Cluster):
    from paperfeed.jobs import queue, tasks

    day = "2025-06-13"
    cluster.mailbox.hold_address = SUBSCRIBERS[0]  # the sender stops in the first mail's RCPT
    with queue.opened(cluster.settings):
        tasks.send_digests.defer(frequency="daily", day=day)
    assert cluster.mailbox.held.wait(60), "no worker began sending"
    holder = next(
        name
        for name in ("worker-1", "worker-2")
        if f"day='{day}'" in (cluster.root / f"{name}.log").read_text()
    )
    cluster.processes[holder].send_signal(signal.SIGKILL)
    assert cluster.processes[holder].wait(10) == -signal.SIGKILL
    cluster.mailbox.release.set()  # the server answers a client that is gone: no DATA follows
    # The other worker finds the job's worker silent, takes the job back and sends every mail.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(len(cluster.mailbox.to(a)) >= 2 for a in SUBSCRIBERS):
            break
        time.sleep(0.5)
    time.sleep(2)  # a duplicate would arrive now
    for address in SUBSCRIBERS:  # one digest of the raced period, one of this one
        received = cluster.mailbox.to(address)
        assert len(received) == 2, f"{address} got {len(received)} digests"
        assert len({str(m["Message-ID"]) for m in received}) == 2
    logs = "".join((cluster.root / f"{n}.log").read_text() for n in ("worker-1", "worker-2"))
    assert "(paperfeed:digest.send) of a dead worker goes back to the queue" in logs


def test_a_node_killed_under_load_loses_no_acknowledged_vote(cluster: Cluster) -> None:
    papers = _paper_ids(SEED_FILES)
    assert len(papers) * VOTE_PACE_S > 4.5, "too few papers to vote for until the end"
    voters = [_user(cluster, f"voter{n}") for n in range(4)]
    acknowledged: dict[int, list[str]] = {user.id: [] for user, _ in voters}
    outcomes: list[tuple[float, int]] = []  # (when sent, status; 0 = no answer)
    stop = threading.Event()
    killed_at: list[float] = []

    def vote(user: UserRow, token: str) -> None:
        with httpx.Client(
            base_url=cluster.front, headers={"authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            began = time.monotonic()
            for number, paper in enumerate(papers):
                if stop.is_set():
                    return
                # Paced, so that the papers last past the kill however fast the nodes answer
                # (unpaced, fast nodes ran out of papers to vote for before it).
                time.sleep(max(0.0, began + number * VOTE_PACE_S - time.monotonic()))
                sent = time.monotonic()
                try:
                    answer = client.post(f"/api/papers/{paper}/upvote")
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                outcomes.append((sent, status))
                if status == 200:
                    assert answer.json()["upvoted"] is True
                    acknowledged[user.id].append(paper)

    threads = [threading.Thread(target=vote, args=voter) for voter in voters]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    cluster.processes["node-a"].send_signal(signal.SIGKILL)
    killed_at.append(time.monotonic())
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(30)
    with cluster.db.sessions() as session:
        stored = {
            user_id: set(
                session.scalars(select(UpvoteRow.paper_id).where(UpvoteRow.user_id == user_id))
            )
            for user_id in acknowledged
        }
    for user_id, ids in acknowledged.items():
        assert set(ids) <= stored[user_id], "an acknowledged vote was lost"
    after = [status for sent, status in outcomes if sent > killed_at[0] + 0.5]
    before = [status for sent, status in outcomes if sent < killed_at[0] - 0.5]
    assert before and all(status == 200 for status in before), f"before the kill: {set(before)}"
    assert len(after) >= 20, "the load did not go on after the kill"
    assert all(status == 200 for status in after), f"nginx answered {set(after)} after the kill"
    assert cluster.processes["node-a"].wait(5) == -signal.SIGKILL
    during = [
        status for sent, status in outcomes if killed_at[0] - 0.5 <= sent <= killed_at[0] + 0.5
    ]
    print(
        f"{sum(map(len, acknowledged.values()))} votes acknowledged, all stored; "
        f"{len(before)} sent before the kill, {len(after)} after (all answered 200), "
        f"around it: {sorted(during)}"
    )
