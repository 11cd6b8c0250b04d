"""Benchmark: digests composed per second for 10,000 subscribers, and SMTP throughput.

    python bench/digest_throughput.py [--data DIR] [--database-url URL] [--date 2025-10-08]
                                      [--subscribers 10000] [--smtp-count 2000]

On the real shared data (every Hugging Face daily list and the arXiv snapshot, imported first
unless the database already holds papers), 10,000 confirmed subscribers get varied interests
drawn from the data itself: arXiv categories weighted by how common they are, Hugging Face
keywords, organizations, and for one in ten a user account with upvotes (the "for you" section).

Compose: `digest send`'s compose step for one daily period (select, render both parts, build the
message, store it in the outbox), beside a baseline measured in the same run: rendering one
digest's two templates 10,000 times (the floor of any per-subscriber mail). Target: 10,000 in at
most 60 s on 2 cores.
SMTP: the outbox delivery (claim, send, commit per mail) of --smtp-count stored digests to a local
aiosmtpd server, beside plain smtplib sending the same messages over one connection.
"""

from __future__ import annotations

import argparse
import os
import random
import smtplib
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from paperfeed.digest import compose, delivery, service, subscriptions
from paperfeed.digest.subscriptions import Interests
from paperfeed.ingest import arxiv_jsonl, hf_daily
from paperfeed.ingest.quickstart import find_data_dir
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import (
    OrganizationRow,
    OutboxRow,
    PaperRow,
    SubscriptionRow,
    UpvoteRow,
    UserRow,
)


class Sink:
    """An aiosmtpd handler that counts what it accepts."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def import_data(db: Database, data: Path) -> None:
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(PaperRow)):
            print("database already holds papers: not importing")
            return
    start = time.perf_counter()
    hf_daily.import_paths(db, sorted((data / "hf-daily-papers" / "api").glob("*.json")))
    arxiv_jsonl.import_file(db, next((data / "arxiv-cs").glob("*.jsonl.gz")))
    print(f"imported the shared data in {time.perf_counter() - start:.1f} s")


def make_subscribers(db: Database, count: int, rng: random.Random) -> None:
    """Confirmed subscribers with interests drawn from the data; one in ten a voting user."""
    with db.sessions() as session:
        categories = Counter()
        keywords: Counter[str] = Counter()
        for cats, kws in session.execute(select(PaperRow.categories, PaperRow.ai_keywords)):
            categories.update((cats or "").split())
            keywords.update(k.lower() for k in (kws or []) if len(k) < 40)
        organizations = list(session.scalars(select(OrganizationRow.name)))
        paper_ids = list(session.scalars(select(PaperRow.id).where(PaperRow.upvotes_base > 0)))
    common = [c for c, _ in categories.most_common(80) if subscriptions.is_category(c)]
    common_categories = common[:40]
    weights = [categories[c] for c in common_categories]
    vocabulary = [k for k, _ in keywords.most_common(3000)]
    now = datetime.now(UTC).replace(tzinfo=None)
    with db.transaction() as session:
        for n in range(count):
            user_id = None
            if n % 10 == 0:
                user = UserRow(
                    username=f"bench{n}",
                    email=f"bench{n}@example.org",
                    password_hash="-",
                    is_admin=False,
                    created_at=now,
                )
                session.add(user)
                session.flush()
                user_id = user.id
                for paper_id in rng.sample(paper_ids, 5):
                    session.add(UpvoteRow(user_id=user.id, paper_id=paper_id, created_at=now))
            interests = Interests(
                categories=rng.choices(common_categories, weights, k=rng.randint(0, 3)),
                keywords=rng.sample(vocabulary, rng.randint(0, 4)),
                organizations=rng.sample(organizations, rng.randint(0, 2)) if n % 4 == 0 else [],
            )
            row = subscriptions.request(
                session, f"reader{n}@example.org", "daily", interests, user_id=user_id
            )
            subscriptions.confirm(session, row)


def template_baseline(db: Database, settings: Settings, day: date, count: int) -> float:
    """Seconds to render one digest's HTML and text parts `count` times."""
    with db.sessions() as session:
        papers = compose.load_period(session, "daily", day)
        row = session.scalars(select(SubscriptionRow).limit(1)).one()
    content = papers.select(Interests(keywords=["agents"], categories=["cs.CV"]))
    renderer = service.renderer(settings)
    start = time.perf_counter()
    for _ in range(count):
        renderer.digest(row, content)
    return time.perf_counter() - start


def smtp_baseline(db: Database, settings: Settings, count: int) -> float:
    """Seconds for plain smtplib to send `count` stored messages over one connection."""
    with db.sessions() as session:
        rows = session.execute(
            select(OutboxRow.recipient, OutboxRow.message)
            .where(OutboxRow.status == "pending")
            .order_by(OutboxRow.id.desc())
            .limit(count)
        ).all()
    start = time.perf_counter()
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
        for recipient, message in rows:
            smtp.sendmail("digest@paperfeed.test", [recipient], message.encode("ascii"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--date", default="2025-10-08", help="the daily period composed")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--smtp-count", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=1, help="processes composing digests")
    args = parser.parse_args()
    data = find_data_dir(args.data)
    if data is None:
        sys.exit("shared data not found: pass --data DIR")
    folder = Path(tempfile.mkdtemp(prefix="paperfeed-digest-bench-"))
    db = Database(args.database_url or f"sqlite:///{folder / 'bench.db'}")
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(SubscriptionRow)):
            sys.exit("the database already has subscriptions: give an empty one")
    import_data(db, data)
    day = date.fromisoformat(args.date)
    make_subscribers(db, args.subscribers, random.Random(5))
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings = Settings(
        home=folder / "home",
        database_url=db.url,
        base_url="https://papers.example.org",
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="paperfeed <digest@paperfeed.test>",
    )
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (1 min)")

    with db.sessions() as session:
        papers = compose.load_period(session, "daily", day)
    print(f"period {papers.key}: {len(papers.top)} featured, {len(papers.pool)} papers in all")
    baseline = template_baseline(db, settings, day, args.subscribers)
    start, cpu = time.perf_counter(), time.process_time()
    report = service.compose_due(db, settings, "daily", day, workers=args.workers)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rate = report.composed / elapsed if elapsed else 0.0
    print(
        f"baseline: one digest's templates rendered {args.subscribers:,} times: "
        f"{baseline:.1f} s ({args.subscribers / baseline:,.0f}/s)"
    )
    projected = 10_000 / rate if rate else float("inf")
    print(
        f"compose: {report.composed:,} digests ({report.nothing_new} with nothing new) in "
        f"{elapsed:.1f} s wall ({cpu:.1f} s CPU in this process): {rate:,.0f} digests/s, "
        f"{elapsed / baseline:.2f}x the baseline's time"
    )
    print(
        f"10,000 digests at this rate: {projected:.0f} s (target <= 60 s on 2 cores: "
        f"{'met' if projected <= 60 else 'NOT met'}), {args.workers} compose process(es)"
    )
    with db.sessions() as session:
        sizes = [len(ids) for ids in session.scalars(select(OutboxRow.paper_ids))]
    print(
        f"papers per digest: min {min(sizes)}, mean {sum(sizes) / len(sizes):.1f}, max {max(sizes)}"
    )

    smtp_base = smtp_baseline(db, settings, args.smtp_count)
    start = time.perf_counter()
    sent = delivery.deliver(db, settings, limit=args.smtp_count)
    smtp_elapsed = time.perf_counter() - start
    print(
        f"baseline: plain smtplib, {args.smtp_count:,} messages on one connection: "
        f"{smtp_base:.1f} s ({args.smtp_count / smtp_base:,.0f} messages/s)"
    )
    print(
        f"smtp: outbox delivery of {sent.sent:,} digests in {smtp_elapsed:.1f} s: "
        f"{sent.sent / smtp_elapsed:,.0f} messages/s, {smtp_elapsed / smtp_base:.2f}x the "
        f"baseline's time (server accepted {sink.count:,} in all)"
    )
    controller.stop()
    db.close()


if __name__ == "__main__":
    main()
