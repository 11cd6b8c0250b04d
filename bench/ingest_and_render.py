"""Benchmark: snapshot ingest throughput and month-page render time, each beside a baseline.

    python bench/ingest_and_render.py [--data DIR] [--database-url URL] [--month 2025-06]

Ingest: `paperfeed ingest arxiv-jsonl` on the 74,728-paper snapshot into an empty database,
beside the raw rate of decompressing and JSON-parsing the same file (the floor any importer pays).
Render: the month page (HTML) and the month API (JSON) over Hugging Face listings, beside a raw
SQL query that reads the same listings' rows (what any server must at least do).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from paperfeed.ingest import arxiv_jsonl, hf_daily
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


def raw_parse_rate(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with gzip.open(path, "rb") as lines:
        count = sum(1 for line in lines if json.loads(line))
    return count, time.perf_counter() - start


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: new SQLite)"
    )
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    data = find_data_dir(args.data)
    if data is None:
        sys.exit("shared data not found: pass --data DIR")
    snapshot = next((data / "arxiv-cs").glob("*.jsonl.gz"))
    workdir = Path(tempfile.mkdtemp(prefix="paperfeed-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"

    print(f"database: {url.split('@')[-1]}")
    count, parse_s = raw_parse_rate(snapshot)
    print(
        f"baseline  raw gzip+JSON parse      {count / parse_s:10,.0f} records/s  ({parse_s:.1f} s)"
    )
    db = Database(url)
    start = time.perf_counter()
    report = arxiv_jsonl.import_file(db, snapshot, restart=True)
    ingest_s = time.perf_counter() - start
    papers = (
        report.saved.papers.inserted + report.saved.papers.updated + report.saved.papers.unchanged
    )
    print(
        f"paperfeed ingest arxiv-jsonl       {papers / ingest_s:10,.0f} papers/s   "
        f"({ingest_s:.1f} s, {papers:,} papers) = {parse_s / ingest_s:.2f}x the raw parse rate"
    )
    start = time.perf_counter()
    again = arxiv_jsonl.import_file(db, snapshot, restart=True)
    reingest_s = time.perf_counter() - start
    print(
        f"paperfeed re-ingest (no changes)   {papers / reingest_s:10,.0f} papers/s   "
        f"({reingest_s:.1f} s, {again.saved.papers.unchanged:,} unchanged)"
    )

    hf_daily.import_paths(db, [data / "hf-daily-papers" / "api"])
    year, month = map(int, args.month.split("-"))
    first, last = f"{args.month}-01", f"{year + month // 12}-{month % 12 + 1:02d}-01"
    query = text(
        "SELECT p.id, p.title, p.abstract, p.upvotes_base, d.day, pa.name FROM daily_entries d "
        "JOIN papers p ON p.id = d.paper_id LEFT JOIN paper_authors pa ON pa.paper_id = p.id "
        "WHERE d.day >= :first AND d.day < :last ORDER BY p.upvotes_base DESC"
    )
    with db.sessions() as session:
        rows = session.execute(query, {"first": first, "last": last}).all()
        raw_sql = timed(
            lambda: session.execute(query, {"first": first, "last": last}).all(), args.repeat
        )
    listings = len({(r.id, r.day) for r in rows})
    # The whole month on one page: every listing rendered, as the raw query reads them all.
    client = TestClient(create_app(Settings(database_url=url, home=workdir, page_size=500)))
    page_url = f"/papers/month/{args.month}"
    assert client.get(page_url).status_code == 200
    html = timed(lambda: client.get(page_url), args.repeat)
    api = timed(lambda: client.get(f"/api/daily_papers?month={args.month}&limit=100"), args.repeat)
    base = statistics.median(raw_sql)
    print(
        f"baseline  raw SQL of the month     {base * 1000:8.1f} ms median "
        f"({listings} listings, {len(rows)} rows)"
    )
    for name, times in (
        (f"GET {page_url}", html),
        (f"GET /api/daily_papers?month={args.month}", api),
    ):
        median = statistics.median(times)
        print(
            f"{name:34} {median * 1000:8.1f} ms median, {max(times) * 1000:.1f} ms max "
            f"= {median / base:.1f}x the raw query"
        )


if __name__ == "__main__":
    main()
