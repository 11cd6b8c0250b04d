"""Throughput: `wrk` over a mixed anonymous workload against this code and the baseline, one run.

    .venv/bin/python bench/throughput.py [--home /work/evalhome-all] [--baseline 3671193]
                                         [--seconds 20] [--workers 2] [--skip-baseline]

Copies the data folder (read-only use: the copies are in a temporary folder) once per code
version, starts `paperfeed serve --workers 2` on it (background embedder and digest schedule
off), warms it briefly, then drives `wrk` with bench/throughput.lua:

- the mixed anonymous workload at 50 and at 200 connections: day, week and month pages across
  the whole archive, search pages and the search API with varied queries (two title words drawn
  at random, thousands of distinct ones, so no cache of query results carries the figure),
  paper pages, the trending sort, the daily-papers API of a random day, the RSS feeds;
- the same at 50 connections as a logged-in reader (one account's session cookie);
- each endpoint alone at 10 connections.

It prints req/s, p50/p95/p99 and errors of each, for this code and for the baseline commit
(checked out with `git archive` into the temporary folder and run with its own code), and the
ratio. Target (issue 12): >= 300 req/s with p95 <= 300 ms at 50 connections.

The data folder (default /work/evalhome-all) holds all the shared data, as issue 12 measures:
every Hugging Face daily listing and the arXiv snapshot, 80,017 papers. It is made once:

    PAPERFEED_HOME=/work/evalhome-all paperfeed quickstart --no-serve   # both data sets
    PAPERFEED_HOME=/work/evalhome-all paperfeed embed --device cuda     # MiniLM, every paper
    PAPERFEED_HOME=/work/evalhome-all paperfeed index --similar         # similar papers of each

(`embed` on a CPU takes hours for 80k papers: on a GPU, minutes. Where the GPU is another
machine, `bench/embed_ray_gpu.py prepare --home DIR`, `run --vectors-out OUT` there and
`load-vectors --home DIR --vectors OUT` here bring its vectors back.) A smaller folder, e.g. the
daily papers alone (`paperfeed ingest hf-daily ...`), can be given with --home.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from paperfeed.store import migrate

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "throughput.lua"
RATES = {f"{action}.{per}": "100000000/1m" for action in ("search",) for per in ("user", "addr")}


@dataclass
class Result:
    """One wrk run's figures."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.rps:8.1f} req/s  p50 {self.p50_ms:7.1f}  p95 {self.p95_ms:7.1f}  "
            f"p99 {self.p99_ms:7.1f} ms  errors {self.errors}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def workload(db: Path, seed: int = 12) -> dict[str, list[str]]:
    """Paths of each endpoint, drawn from the data folder's database."""
    rng = random.Random(seed)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        days = [row[0] for row in conn.execute("SELECT DISTINCT day FROM daily_entries")]
        papers = [row[0] for row in conn.execute("SELECT id FROM papers")]
        titles = [row[0] for row in conn.execute("SELECT title FROM papers")]
    words = [w.lower() for t in titles for w in re.findall(r"[A-Za-z]{5,}", t)]
    weeks = sorted({time.strftime("%G-W%V", time.strptime(d, "%Y-%m-%d")) for d in days})
    months = sorted({d[:7] for d in days})

    def queries(n: int) -> list[str]:
        return [f"{rng.choice(words)}+{rng.choice(words)}" for _ in range(n)]

    return {
        "day page": [f"/papers/date/{d}" for d in days],
        "week page": [f"/papers/week/{w}" for w in weeks],
        "month page": [f"/papers/month/{m}" for m in months],
        "search page": [f"/search?q={q}" for q in queries(3000)],
        "search API": [f"/api/papers/search?q={q}" for q in queries(3000)],
        "paper page": [f"/papers/{p}" for p in rng.sample(papers, min(3000, len(papers)))],
        "trending": ["/papers?sort=trending"],
        "daily API": [f"/api/daily_papers?date={d}" for d in days],
        "RSS": ["/papers/feed.rss", "/trending/feed.rss"],
    }


# Share of each endpoint in the mixed workload (of 20 requests).
MIX = {
    "day page": 4, "week page": 2, "month page": 1, "search page": 2, "search API": 2,
    "paper page": 4, "trending": 1, "daily API": 3, "RSS": 1,
}  # fmt: skip


def mixed(paths: dict[str, list[str]], rng: random.Random, n: int = 20000) -> list[str]:
    names = [name for name, share in MIX.items() for _ in range(share)]
    return [rng.choice(paths[rng.choice(names)]) for _ in range(n)]


class Site:
    """`paperfeed serve` of one code version on its own copy of the data folder."""

    def __init__(self, label: str, src: Path, source_home: Path, scratch: Path, workers: int):
        self.label = label
        self.home = scratch / f"home-{label}"
        self.home.mkdir(parents=True)
        for name in ("paperfeed.db", "index"):
            source = source_home / name
            if source.is_dir():  # the live index links stay links, as the indexer makes them
                shutil.copytree(source, self.home / name, symlinks=True)
            elif source.exists():
                shutil.copy2(source, self.home / name)
        if (source_home / "models").exists():
            (self.home / "models").symlink_to(source_home / "models")
        if src != ROOT / "src":
            # Older code: the database at its schema, and its own indexes from that database
            # (the index formats changed too: it would answer searches with errors).
            schema_for(self.home / "paperfeed.db", src)
            shutil.rmtree(self.home / "index", ignore_errors=True)
            subprocess.run(
                [sys.executable, "-c", "from paperfeed.cli import app; app()", "index",
                 "--rebuild"],
                env={**os.environ, "PAPERFEED_HOME": str(self.home), "PYTHONPATH": str(src)},
                check=True, capture_output=True,
            )  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PAPERFEED_HOME": str(self.home),
            "PYTHONPATH": str(src),
            "PAPERFEED_EMBED_IN_BACKGROUND": "false",
            "PAPERFEED_DIGEST_SCHEDULE": "false",
            "PAPERFEED_LOG_LEVEL": "WARNING",
            "PAPERFEED_RATE_LIMITS": json.dumps(RATES),
        }
        env.pop("PAPERFEED_DATABASE_URL", None)
        command = [
            sys.executable, "-c", "from paperfeed.cli import app; app()",
            "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip
        self.log = open(scratch / f"serve-{label}.log", "w")  # noqa: SIM115 - kept open
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        self._wait()

    def _wait(self, limit_s: float = 180.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.label}: serve exited; see {self.log.name}")
            try:
                if httpx.get(self.url + "/api/daily_papers", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"{self.label}: serve did not answer within {limit_s:.0f} s")

    def login_cookie(self) -> str:
        """Register one reader and return its session cookie ("name=value")."""
        with httpx.Client(base_url=self.url, timeout=120) as client:
            page = client.get("/register").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token, "no CSRF token on /register"
            answer = client.post("/register", data={
                "csrf_token": token.group(1), "username": "benchreader",
                "email": "bench@example.org", "password": "bench-password-1",
                "password_again": "bench-password-1", "next": "/",
            })  # fmt: skip
            assert answer.status_code in (200, 303), answer.status_code
            cookie = client.cookies.get("paperfeed_session")
            assert cookie, "registration gave no session cookie"
            return f"paperfeed_session={cookie}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def run_wrk(url: str, paths_file: Path, connections: int, seconds: int, cookie: str = "") -> Result:
    threads = max(1, min(2, connections))
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(LUA), url, "--", str(paths_file), cookie,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    # wrk is gone, but requests it left queued still run (a sync endpoint cannot be cancelled):
    # one more request waits behind them, so the next run starts on an idle server.
    httpx.get(url + "/papers/feed.rss", timeout=300)
    line = next(line for line in output.splitlines() if line.startswith("{"))
    data = json.loads(line)
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_ms"],
        p95_ms=data["p95_ms"],
        p99_ms=data["p99_ms"],
        errors=sum(data["errors"].values()),
    )


def measure(
    site: Site, files: dict[str, Path], seconds: int, endpoint_s: int, warmup_s: int
) -> dict[str, Result]:
    """All the runs of one site, by name."""
    # Warm-up, the same for both: imports, indexes and models opened, caches filling.
    run_wrk(site.url, files["mixed"], 50, warmup_s)
    results: dict[str, Result] = {}
    results["mixed, 50 connections"] = run_wrk(site.url, files["mixed"], 50, seconds)
    results["mixed, 200 connections"] = run_wrk(site.url, files["mixed"], 200, seconds)
    cookie = site.login_cookie()
    results["mixed, 50, logged-in"] = run_wrk(site.url, files["mixed"], 50, seconds, cookie)
    for name in MIX:
        results[f"{name} (10 conns)"] = run_wrk(site.url, files[name], 10, endpoint_s)
    for name, result in results.items():
        print(f"  {site.label:8} {name:28} {result.line()}", flush=True)
    return results


def schema_for(db: Path, src: Path) -> None:
    """Take a copied database down to the newest schema `src` knows (this code's migrations
    undo the newer ones; papers, listings and vectors stay), so older code can open it."""
    versions = src / "paperfeed" / "store" / "migrations" / "versions"
    revisions, parents = set(), set()
    for path in versions.glob("*.py"):
        text = path.read_text()
        revisions.update(re.findall(r'^revision: str = "([^"]+)"', text, re.M))
        parents.update(re.findall(r'^down_revision: str \| None = "([^"]+)"', text, re.M))
    [head] = revisions - parents
    engine = create_engine(f"sqlite:///{db}")
    try:
        migrate.downgrade(engine, head)
    finally:
        engine.dispose()


def baseline_source(commit: str, scratch: Path) -> Path:
    target = scratch / f"code-{commit}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, default=Path("/work/evalhome-all"), help="data folder (all data)"
    )
    parser.add_argument("--baseline", default="3671193", help="commit measured as the baseline")
    parser.add_argument("--seconds", type=int, default=20, help="length of each mixed run")
    parser.add_argument("--endpoint-seconds", type=int, default=8, help="each endpoint alone")
    parser.add_argument("--warmup-seconds", type=int, default=15, help="mixed, before measuring")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if not (args.home / "paperfeed.db").exists():
        raise SystemExit(f"{args.home} has no paperfeed.db (import the shared data first)")

    scratch = Path(tempfile.mkdtemp(prefix="pf-throughput-"))
    paths = workload(args.home / "paperfeed.db")
    files: dict[str, Path] = {}
    for name, items in {**paths, "mixed": mixed(paths, random.Random(7))}.items():
        files[name] = scratch / (name.replace(" ", "_") + ".txt")
        files[name].write_text("\n".join(items) + "\n")
    with sqlite3.connect(f"file:{args.home / 'paperfeed.db'}?mode=ro", uri=True) as conn:
        papers = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
        vectors = conn.execute(
            "SELECT model, count(*) FROM paper_embeddings GROUP BY model"
        ).fetchall()
    print(f"home {args.home}: {papers} papers; vectors {dict(vectors)}", flush=True)
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    versions = [("this", ROOT / "src")]
    if not args.skip_baseline:
        versions.append((args.baseline, baseline_source(args.baseline, scratch)))
    figures: dict[str, dict[str, Result]] = {}
    try:
        for label, src in versions:
            site = Site(label, src, args.home, scratch, args.workers)
            try:
                figures[label] = measure(
                    site, files, args.seconds, args.endpoint_seconds, args.warmup_seconds
                )
            finally:
                site.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"{len(paths['day page'])} days, {len(paths['paper page'])} paper pages in the mix")
    now = figures["this"]
    base = figures.get(args.baseline)
    print(f"\n{'run':30} {'this code':>44}   {'ratio':>6}")
    for name, result in now.items():
        ratio = f"{result.rps / base[name].rps:5.2f}x" if base and base[name].rps else "  -"
        print(f"{name:30} {result.line()}   {ratio}")
    headline = now["mixed, 50 connections"]
    met = headline.rps >= 300 and headline.p95_ms <= 300 and headline.errors == 0
    print(
        f"\ntarget (>= 300 req/s, p95 <= 300 ms at 50 connections): "
        f"{'met' if met else 'NOT met'} ({headline.rps:.0f} req/s, p95 {headline.p95_ms:.0f} ms)"
    )


if __name__ == "__main__":
    main()
