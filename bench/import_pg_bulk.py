"""Bulk import into PostgreSQL: COPY + merge (ingest/bulk_pg.py) against today's importer.

    source /work/pfenv; .venv/bin/python bench/import_pg_bulk.py [--records 1000000] [--slice 20000]

Builds a synthetic snapshot of `--records` records from the real one (the 74,728 shared arXiv
papers repeated, each copy under new ids), imports it into a fresh PostgreSQL database with the
COPY path, and today's path (arxiv_jsonl.import_file: pydantic rows through SQLAlchemy
upserts) on the first `--slice` records into another fresh database, in the same run. Prints
records/s of both, the ratio, and the projected time for 3M records. Today's path is measured
on the slice and extrapolated linearly (its cost per record does not fall with size).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"


def synthetic(path: Path, records: int) -> None:
    """`records` real records, cycled, the i-th under a new-style id of its own."""
    with gzip.open(SNAPSHOT, "rt") as lines:
        real = [line for line in lines if line.strip()]
    with path.open("w") as sink:
        for i, line in enumerate(itertools.islice(itertools.cycle(real), records)):
            record = json.loads(line)
            month = i // 90000
            record["id"] = f"{16 + month // 12:02d}{month % 12 + 1:02d}.{10000 + i % 90000:05d}"
            sink.write(json.dumps(record) + "\n")


def fresh_database(admin_url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"pf_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return admin.set(database=name).render_as_string(hide_password=False), engine


def drop(engine, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    with engine.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=20_000)
    args = parser.parse_args()
    admin = os.environ.get("PAPERFEED_TEST_POSTGRES_URL")
    if not admin:
        sys.exit("set PAPERFEED_TEST_POSTGRES_URL to a PostgreSQL server (source /work/pfenv)")
    from sqlalchemy import func, select

    from paperfeed.ingest import arxiv_jsonl, bulk_pg
    from paperfeed.store.db import Database
    from paperfeed.store.models import PaperAuthorRow, PaperRow

    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "synthetic.jsonl"
        started = time.perf_counter()
        synthetic(big, args.records)
        small = Path(folder) / "slice.jsonl"
        with big.open() as source, small.open("w") as sink:
            sink.writelines(itertools.islice(source, args.slice))
        print(f"synthetic snapshot: {args.records:,} records, "
              f"{big.stat().st_size / 2**20:.0f} MiB, built in "
              f"{time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.1f}")  # fmt: skip

        rates = {}
        for label, importer, path in (
            ("today's path (arxiv_jsonl)", arxiv_jsonl.import_file, small),
            ("COPY + merge (bulk_pg)", bulk_pg.import_file, big),
        ):
            url, engine = fresh_database(admin)
            try:
                with Database(url) as db:
                    started = time.perf_counter()
                    report = importer(db, path)
                    seconds = time.perf_counter() - started
                    with db.sessions() as session:
                        papers = session.scalar(select(func.count()).select_from(PaperRow))
                        links = session.scalar(select(func.count()).select_from(PaperAuthorRow))
                    again = time.perf_counter()
                    rerun = importer(db, path, restart=True)
                    rerun_s = time.perf_counter() - again
            finally:
                drop(engine, url)
            count = report.saved.papers.inserted
            rates[label] = count / seconds
            print(f"{label}: {count:,} records in {seconds:.1f} s = {rates[label]:,.0f} "
                  f"records/s ({papers:,} papers, {links:,} author links stored; "
                  f"{len(report.rejected)} rejected); 3M would take "
                  f"{3_000_000 / rates[label] / 60:.1f} min; the same file again "
                  f"{rerun.saved.papers.unchanged:,} unchanged in {rerun_s:.1f} s")  # fmt: skip
        today, bulk = rates.values()
        print(f"COPY + merge / today's path: {bulk / today:.1f}x (today's measured on "
              f"{args.slice:,} records, extrapolated); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
