"""The first minutes after `make run`: how soon every paper takes part in search by meaning.

    .venv/bin/python bench/first_minutes.py [--data DIR] [--home DIR] [--limit-s 900]

Runs `paperfeed quickstart` (what `make run` does) on the shared data in a fresh data folder and
clocks from the moment the site first answers. While the background embedder works, one client
reads feed pages (day, week and month pages and the front page, in turn) and records their
latency. It reports:

- when the fast (static) tier covers every paper, and when a search page says it answers by
  meaning from it (the vector index caught up): the "every paper in dense ranking" time;
- the feed pages' p50 / p95 meanwhile, beside the same pages once the embedder is stopped
  (the baseline measured in the same run);
- MiniLM's progress when the run ends (it replaces the static tier as it catches up).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["/", "/?date=2025-06-12", "/?week=2025-W24", "/?month=2025-06", "/?date=2026-03-05"]
FAST_SIGN = "meaning from the fast model"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def read_pages(client: httpx.Client, stop: threading.Event, times: list[float]) -> None:
    turn = 0
    while not stop.is_set():
        started = time.perf_counter()
        client.get(PAGES[turn % len(PAGES)]).raise_for_status()
        times.append(time.perf_counter() - started)
        turn += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument("--home", type=Path, default=None, help="data folder (default: fresh)")
    parser.add_argument("--port", type=int, default=8877)
    parser.add_argument("--limit-s", type=float, default=900.0, help="give up after this long")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="pf-first-minutes-"))
    env = {**os.environ, "PAPERFEED_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "paperfeed.cli", "quickstart", "--port", str(args.port)]
    if args.data:
        command += ["--data", str(args.data)]
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    launched = time.perf_counter()
    site = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60)
    try:
        while True:  # the import runs first; the clock starts when the site answers
            if site.poll() is not None:
                raise SystemExit(f"quickstart ended: {site.stderr.read().decode()[-2000:]}")
            try:
                status = client.get("/api/status").json()
                break
            except httpx.TransportError:
                time.sleep(0.5)
        answered = time.perf_counter()
        print(f"site answers {answered - launched:.0f} s after launch,"
              f" {status['papers']:,} papers, tiers {status['search_tiers']}")  # fmt: skip
        times: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=read_pages, args=(client, stop, times), daemon=True)
        reader.start()
        covered = searchable = None
        tiers = status["search_tiers"]
        while time.perf_counter() - answered < args.limit_s:
            status = client.get("/api/status").json()
            counts = status["embeddings"]
            now = time.perf_counter() - answered
            if covered is None and counts.get(tiers[0], 0) >= status["papers"]:
                covered = now
                print(f"fast tier covers all {status['papers']:,} papers at {now:.0f} s")
            if covered is not None and searchable is None:
                page = client.get("/search", params={"q": "making a trained model smaller"})
                if FAST_SIGN in page.text or status["search_model"] == tiers[-1]:
                    searchable = now
                    print(f"search answers by meaning over every paper at {now:.0f} s")
            if searchable is not None and now > searchable + 20:
                break
            time.sleep(2)
        stop.set()
        reader.join()
        during = list(times)
        status = client.get("/api/status").json()
        elapsed = time.perf_counter() - answered
        minilm = status["embeddings"].get(tiers[-1], 0)
        print(f"after {elapsed:.0f} s: {minilm:,} papers embedded by {tiers[-1]}"
              f" ({minilm / elapsed:.1f}/s while the site served)")  # fmt: skip
    finally:
        site.send_signal(signal.SIGINT)
        try:
            site.wait(30)
        except subprocess.TimeoutExpired:
            site.kill()
    # The baseline: the same pages with no embedder running, in the same data folder.
    quiet_env = {**env, "PAPERFEED_EMBED_IN_BACKGROUND": "false"}
    serve = [sys.executable, "-m", "paperfeed.cli", "serve", "--port", str(args.port)]
    quiet = subprocess.Popen(serve, env=quiet_env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(120):
            try:
                client.get("/api/status")
                break
            except httpx.TransportError:
                time.sleep(0.5)
        baseline: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=read_pages, args=(client, stop, baseline), daemon=True)
        reader.start()
        time.sleep(30)
        stop.set()
        reader.join()
    finally:
        quiet.send_signal(signal.SIGINT)
        quiet.wait(30)
    for label, values in (("while embedding", during), ("embedder off (baseline)", baseline)):
        p50, p95 = statistics.median(values) * 1e3, percentile(values, 0.95) * 1e3
        print(f"feed pages {label}: {len(values)} requests, p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    if during and baseline:
        ratio = percentile(during, 0.95) / percentile(baseline, 0.95)
        print(f"p95 while embedding / baseline: x{ratio:.2f}")
    if searchable is None:
        raise SystemExit(f"search did not cover every paper within {args.limit_s:.0f} s")


if __name__ == "__main__":
    main()
