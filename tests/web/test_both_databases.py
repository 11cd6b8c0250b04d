"""Every route on SQLite and PostgreSQL, and `paperfeed serve` with several workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_files

from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

DAY = "2025-06-10"
ROUTES = [
    "/",
    "/papers",
    f"/papers/date/{DAY}",
    "/papers/week/2025-W24",
    "/papers/month/2025-06",
    "/papers/month/2025-06?scope=all&sort=newest",
    "/papers/2506.08007",
    "/api/papers/2506.08007",
    f"/api/daily_papers?date={DAY}",
    "/api/daily_papers?month=2025-06&sort=publishedAt&p=1&limit=20",
    "/docs",
    "/openapi.json",
]


def test_every_route_answers_the_same_on_both_databases(db: Database) -> None:
    hf_daily.import_paths(db, hf_files(HF_API_DIR, "2025-06"))
    expected = json.loads((HF_API_DIR / f"{DAY}.json").read_text())

    with TestClient(create_app(Settings(database_url=db.url), db)) as client:
        for route in ROUTES:
            assert client.get(route).status_code == 200, route
        listed = client.get(f"/api/daily_papers?date={DAY}").json()
        assert client.get("/papers/2599.99999").status_code == 404
        assert client.get("/api/daily_papers?date=2025-13-01").status_code == 422

    assert [e["paper"]["id"] for e in listed] == [e["paper"]["id"] for e in expected]
    assert [e["paper"]["upvotes"] for e in listed] == [e["paper"]["upvotes"] for e in expected]


def test_serve_with_several_workers(database_url: str) -> None:
    db = Database(database_url)
    hf_daily.import_paths(db, hf_files(HF_API_DIR, "2025-06-1"))
    db.close()
    port = _free_port()
    env = {**os.environ, "PAPERFEED_DATABASE_URL": database_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server)
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: httpx.get(f"{base}/api/daily_papers?date={DAY}"), range(40))
            )
        page = httpx.get(f"{base}/papers/date/{DAY}")
    finally:
        server.terminate()
        server.wait(timeout=20)

    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1  # every worker gives the same answer
    assert page.status_code == 200 and "Reinforcement Pre-Training" in page.text


def test_serve_spreads_connections_over_its_workers(tmp_path) -> None:
    """A burst of keep-alive connections lands on both workers, not all on the one that woke
    first (each worker listens on a socket of its own in one SO_REUSEPORT group)."""
    port = _free_port()
    env = {**os.environ, "PAPERFEED_HOME": str(tmp_path), "PAPERFEED_EMBED_IN_BACKGROUND": "false"}
    env.pop("PAPERFEED_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    connections: list[socket.socket] = []
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", server, path="/api/status")
        workers = _workers_listening(server.pid, port)
        # 40 connections at once, then one request on each, kept open
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for conn in connections:
            conn.sendall(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for conn in connections:
            assert conn.recv(64).startswith(b"HTTP/1.1 200")
        held = {
            worker.pid: sum(
                1
                for c in worker.net_connections(kind="tcp")
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
            )
            for worker in workers
        }
        busy = subprocess.run(  # a second site on the same port
            [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        for conn in connections:
            conn.close()
        server.terminate()
        server.wait(timeout=20)

    assert len(held) == 2 and sum(held.values()) == 40, held
    # evenly by a hash of the addresses: fewer than 5 of 40 on one worker has p < 1e-6
    assert min(held.values()) >= 5, held
    # a second site on the same port is refused, not let into the first one's SO_REUSEPORT group
    assert busy.returncode != 0 and "cannot listen" in busy.stderr, busy.stderr


def _workers_listening(pid: int, port: int, limit_s: float = 60) -> list[psutil.Process]:
    """The serve supervisor's worker processes once two of them listen on the port."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        workers = [
            child
            for child in psutil.Process(pid).children()
            if any(
                c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                for c in child.net_connections(kind="tcp")
            )
        ]
        if len(workers) == 2:
            return workers
        time.sleep(0.2)
    pytest.fail("two workers never listened")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(
    base: str, server: subprocess.Popen, path: str = f"/api/daily_papers?date={DAY}"
) -> None:
    deadline = time.monotonic() + 90  # a busy machine; the server prepares models meanwhile
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited: {server.stderr.read().decode()}")
        try:
            if httpx.get(f"{base}{path}").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("serve did not start")


def test_a_served_worker_tunes_its_collector_and_a_test_app_does_not(tmp_path) -> None:
    """`serve` builds each worker with serving_app, whose start freezes the startup objects
    and makes young collections rarer (core.collector); create_app leaves the process alone.
    Both take their request threads and paper cache size from the settings. Run in a child:
    freezing is for good."""
    script = (
        "import gc, json, anyio.to_thread\n"
        "from fastapi.testclient import TestClient\n"
        "from paperfeed.web.app import create_app, serving_app\n"
        "def tokens():\n"
        "    return anyio.to_thread.current_default_thread_limiter().total_tokens\n"
        "with TestClient(create_app()) as client:\n"
        "    plain = [gc.get_freeze_count(), gc.get_threshold()[0], client.portal.call(tokens),\n"
        "             client.app.state.db.papers.max_papers]\n"
        "with TestClient(serving_app()) as client:\n"
        "    served = [gc.get_freeze_count(), gc.get_threshold()[0], client.portal.call(tokens)]\n"
        "print(json.dumps([plain, served]))\n"
    )
    env = {
        **os.environ,
        "PAPERFEED_HOME": str(tmp_path),
        "PAPERFEED_REQUEST_THREADS": "3",
        "PAPERFEED_EMBED_IN_BACKGROUND": "false",
        "PAPERFEED_PAPER_CACHE_PAPERS": "7",
    }
    env.pop("PAPERFEED_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    plain, served = json.loads(done.stdout.strip().splitlines()[-1])

    assert plain == [0, 700, 3, 7]  # Python's defaults; the settings' threads and cache size
    assert served[0] > 10_000 and served[1:] == [10_000, 3]
