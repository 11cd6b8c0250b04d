"""Soak: N minutes of mixed reads and logged-in writes at 50 connections against `paperfeed serve`.

    python bench/soak.py [--minutes 10] [--connections 50] [--workers 2] [--database-url URL]
                         [--data DIR]

Sets up a fresh site in a temporary home (two real Hugging Face daily lists, one account, token
and collection per connection, the BM25 index), starts `paperfeed serve` on a free loopback port
and runs one client per connection, each with its own account's Bearer token. Each request is
drawn from a mix: 70 % reads (feed pages, paper pages, the daily-papers and paper API, search,
comments) and 30 % writes (upvote, comment, save to a collection). Rate limits are raised so the
writes are what is measured, not the 429s.

It prints the requests, the errors (by status or exception), the latency median and 99th
percentile, the resident memory of the server (all its processes) at start and end, and the
writes acknowledged (2xx) against those found in the database at the end. Target (issue 13):
0 errors, flat memory, every acknowledged write found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from paperfeed.community import accounts, collections
from paperfeed.ingest import hf_daily
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.search.indexer import update_indexes
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import CollectionPaperRow, CommentRow, PaperRow, UpvoteRow

DAYS = ["2025-10-02", "2025-10-03"]
RATES = {
    action: "1000000/1m"
    for action in ("vote.user", "vote.addr", "comment.user", "comment.addr", "search.user",
                   "search.addr")
}  # fmt: skip
QUERIES = ["reinforcement learning", "diffusion", "language model reasoning", "video", "agents"]


@dataclass
class Tally:
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    votes: set[tuple[int, str]] = field(default_factory=set)
    comments: set[int] = field(default_factory=set)
    saves: set[tuple[int, str]] = field(default_factory=set)


@dataclass
class Client:
    user_id: int
    token: str
    collection_id: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="web worker processes")
    parser.add_argument("--database-url", default="", help="default: SQLite in the home")
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    args = parser.parse_args()

    data = find_data_dir(args.data)
    if data is None:
        sys.exit("the shared data folder was not found; give --data")
    home = Path(tempfile.mkdtemp(prefix="paperfeed-soak-"))
    url = args.database_url or f"sqlite:///{home / 'paperfeed.db'}"
    settings = Settings(home=home, database_url=url, search_dense=False)
    db = Database(url)
    files = [data / "hf-daily-papers" / "api" / f"{day}.json" for day in DAYS]
    assert hf_daily.import_paths(db, files).ok
    with db.sessions() as session:
        papers = list(session.scalars(select(PaperRow.id)))
    clients = _accounts(db, args.connections)
    update_indexes(db, settings)
    print(f"site: {len(papers)} papers, {len(clients)} accounts, {url.split(':')[0]}, home {home}")

    port = _free_port()
    env = {
        **os.environ,
        "PAPERFEED_HOME": str(home),
        "PAPERFEED_DATABASE_URL": url,
        "PAPERFEED_RATE_LIMITS": json.dumps(RATES),
        "PAPERFEED_SEARCH_DENSE": "false",
        "PAPERFEED_EMBED_IN_BACKGROUND": "false",
        "PAPERFEED_LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", str(args.workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server)
        rss_start = _tree_rss(server.pid)
        tally = Tally()
        started = time.monotonic()
        asyncio.run(_load(base, clients, papers, tally, args.minutes * 60))
        elapsed = time.monotonic() - started
        rss_end = _tree_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    found = _found(db, tally)
    db.close()

    latencies = sorted(tally.latencies)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    acknowledged = len(tally.votes) + len(tally.comments) + len(tally.saves)
    print(f"duration: {elapsed:.0f} s, {args.connections} connections, {args.workers} workers")
    print(f"requests: {tally.requests} ({tally.requests / elapsed:.0f}/s)")
    print(f"errors: {sum(tally.errors.values())} {dict(tally.errors)}")
    print(
        f"latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms"
    )
    print(f"server RSS: start {rss_start / 2**20:.0f} MiB, end {rss_end / 2**20:.0f} MiB")
    print(
        f"writes acknowledged: {acknowledged} (votes {len(tally.votes)}, comments "
        f"{len(tally.comments)}, saves {len(tally.saves)}); found at the end: {found}"
    )
    sys.exit(0 if found == acknowledged and not tally.errors else 1)


def _accounts(db: Database, count: int) -> list[Client]:
    clients = []
    with db.transaction() as session:
        for number in range(count):
            user = accounts.create_user(
                session, f"soak{number}", f"soak{number}@example.org", "correct horse battery"
            )
            token = accounts.create_token(session, user, "soak").secret
            collection = collections.create(session, user, "soak")
            clients.append(Client(user.id, token, collection.id))
    return clients


async def _load(
    base: str, clients: list[Client], papers: list[str], tally: Tally, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(clients), max_keepalive_connections=len(clients))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        await asyncio.gather(
            *(_connection(http, c, papers, tally, deadline, random.Random(c.user_id))
              for c in clients)
        )  # fmt: skip


async def _connection(
    http: httpx.AsyncClient,
    client: Client,
    papers: list[str],
    tally: Tally,
    deadline: float,
    rng: random.Random,
) -> None:
    auth = {"Authorization": f"Bearer {client.token}"}
    while time.monotonic() < deadline:
        paper = rng.choice(papers)
        kind = rng.random()
        if kind < 0.70:
            path = rng.choice([
                "/", f"/papers/date/{rng.choice(DAYS)}", f"/papers/{paper}",
                f"/api/daily_papers?date={rng.choice(DAYS)}", f"/api/papers/{paper}",
                f"/api/papers/search?q={rng.choice(QUERIES)}", f"/api/papers/{paper}/comments",
            ])  # fmt: skip
            await _request(http, tally, "GET", path, auth)
        elif kind < 0.82:
            if await _request(http, tally, "POST", f"/api/papers/{paper}/upvote", auth):
                tally.votes.add((client.user_id, paper))
        elif kind < 0.91:
            body = {"body": f"soak comment {rng.random():.6f} on *{paper}*"}
            path = f"/api/papers/{paper}/comments"
            if answer := await _request(http, tally, "POST", path, auth, body):
                tally.comments.add(answer.json()["id"])
        else:
            path = f"/api/collections/{client.collection_id}/papers"
            if await _request(http, tally, "POST", path, auth, {"paperId": paper}):
                tally.saves.add((client.collection_id, paper))


async def _request(
    http: httpx.AsyncClient,
    tally: Tally,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict | None = None,
) -> httpx.Response | None:
    """The response if it was 2xx; anything else is counted as an error."""
    started = time.monotonic()
    try:
        response = await http.request(method, path, headers=headers, json=body)
    except httpx.HTTPError as error:
        tally.errors[type(error).__name__] += 1
        return None
    finally:
        tally.requests += 1
        tally.latencies.append(time.monotonic() - started)
    if not 200 <= response.status_code < 300:
        tally.errors[f"{response.status_code} {method} {path.split('?')[0][:40]}"] += 1
        return None
    return response


def _found(db: Database, tally: Tally) -> int:
    """How many acknowledged writes the database holds."""
    with db.sessions() as session:
        votes = set(session.execute(select(UpvoteRow.user_id, UpvoteRow.paper_id)).tuples())
        comments = set(session.scalars(select(CommentRow.id)))
        saves = set(
            session.execute(
                select(CollectionPaperRow.collection_id, CollectionPaperRow.paper_id)
            ).tuples()
        )
    return len(tally.votes & votes) + len(tally.comments & comments) + len(tally.saves & saves)


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the server and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("paperfeed serve exited")
        try:
            if httpx.get(f"{base}/api/status").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit("paperfeed serve did not start")


if __name__ == "__main__":
    main()
