"""paperfeed's background tasks: ingest, embedding, index upkeep, digests and the mail outbox.

Each task is idempotent, so a worker killed mid-task loses nothing and duplicates nothing when the
job is run again (retry_stalled hands the jobs of a dead worker back): imports upsert papers and
skip files already imported, embedding skips papers that have a current vector, and a digest is
composed once per (subscriber, period) key and each mail is claimed before it is sent
(digest/delivery.py). Periodic tasks carry a queueing lock: at most one waits at a time.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import procrastinate
from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued

from paperfeed.digest.service import Frequency
from paperfeed.jobs.queue import STALLED_BEATS, site
from paperfeed.search.embedding import Embedder

log = logging.getLogger(__name__)
blueprint = procrastinate.Blueprint()
# A failing task is tried again after 10 s, 20 s, 40 s ... up to 5 times.
RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=10)
EMBED_PASS = 4096  # papers one embedding job takes on; the next minute's job goes on


# --- ingest ---


@blueprint.task(name="ingest.hf_daily_files", queue="ingest", retry=RETRY)
def import_hf_daily_files(paths: list[str], force: bool = False) -> dict[str, int]:
    """Import saved Hugging Face daily-papers files (readable by the worker), then embed them."""
    from paperfeed.ingest import hf_daily

    current = site()
    report = hf_daily.import_paths(current.db, [Path(p) for p in paths], force=force)
    with contextlib.suppress(AlreadyEnqueued):  # one waiting embedding job covers these too
        embed_pending.defer()
    papers = report.saved.papers
    return {
        "inserted": papers.inserted,
        "updated": papers.updated,
        "rejected": len(report.rejected),
    }


@blueprint.periodic(cron="7 * * * *", periodic_id="hourly")
@blueprint.task(name="ingest.hf_daily_refresh", queue="ingest", queueing_lock="ingest.hf_daily")
def refresh_hf_daily(timestamp: int) -> None:
    """Hourly, with ingest_live on: fetch yesterday's and today's Hugging Face daily lists."""
    from paperfeed.ingest import hf_daily

    current = site()
    if not current.settings.ingest_live:
        return
    today = datetime.fromtimestamp(timestamp, UTC).date()
    hf_daily.fetch_days(
        current.db,
        [today - timedelta(days=1), today],
        endpoint=current.settings.hf_endpoint,
        settings=current.settings,
    )
    with contextlib.suppress(AlreadyEnqueued):
        embed_pending.defer()


# --- search ---


@lru_cache(maxsize=4)
def _embedder(kind: str) -> Embedder:
    from paperfeed.search.embedding import load_embedder

    current = site()
    return load_embedder(current.settings, kind, "cpu", threads=current.settings.embed_threads)


@blueprint.periodic(cron="* * * * *", periodic_id="minutely")
@blueprint.task(
    name="search.embed_pending", queue="embed", queueing_lock="search.embed", lock="search.embed"
)
def embed_pending(timestamp: int | None = None) -> int:
    """Give papers without a current vector one, for each model the site embeds with."""
    from paperfeed.search.backfill import embed_pending as backfill
    from paperfeed.search.background import FAST_BATCH, FAST_COMMIT
    from paperfeed.search.embedding import default_commit_size, dense_model, kind_of, tier_models

    current = site()
    if dense_model(current.settings) is None:
        return 0
    embedded = 0
    for model in tier_models(current.settings):  # the fast tier first: meaning for every paper
        kind = kind_of(model)
        batch = FAST_BATCH if kind == "static" else current.settings.embed_batch_size
        result = backfill(
            current.db,
            _embedder(kind),
            batch,
            commit_size=FAST_COMMIT if kind == "static" else default_commit_size("cpu", batch),
            limit=EMBED_PASS,
            missing_only=True,
        )
        embedded += result.embedded
    if embedded:
        log.info("embedded %d papers", embedded)
    return embedded


@blueprint.periodic(cron="23 * * * *", periodic_id="hourly")
@blueprint.task(name="search.prune_changes", queue="index", queueing_lock="search.prune")
def prune_search_changes(timestamp: int) -> int:
    """Delete search changes every node's replica has had a day to read."""
    from paperfeed.search.replica import prune_changes

    return prune_changes(site().db)


# --- digests and mail ---


@blueprint.task(name="digest.send", queue="mail", retry=RETRY)
def send_digests(frequency: str, day: str) -> dict[str, int]:
    """Compose the digests of one period (once per subscriber) and send what is pending."""
    from paperfeed.digest import service

    current = site()
    plan: Frequency = "weekly" if frequency == "weekly" else "daily"
    composed, sent = service.send_digests(
        current.db, current.settings, plan, date.fromisoformat(day)
    )
    log.info("digest %s: %d composed, %d sent", composed.key, composed.composed, sent.sent)
    return {"composed": composed.composed, "sent": sent.sent}


@blueprint.periodic(cron="* * * * *", periodic_id="minutely")
@blueprint.task(name="digest.schedule", queue="mail", queueing_lock="digest.schedule")
def schedule_digests(timestamp: int) -> None:
    """Each minute: once today's send time has passed, hand today's digests to `digest.send`."""
    from paperfeed.digest import compose
    from paperfeed.digest.schedule import next_send_at
    from paperfeed.store.writer import read_checkpoint, write_checkpoint

    current = site()
    if not current.settings.digest_schedule:
        return
    now = datetime.fromtimestamp(timestamp, UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now < next_send_at(midnight, current.settings.digest_send_time):
        return
    today = now.date()
    with current.db.sessions() as session:
        if (read_checkpoint(session, "digest:scheduled") or {}).get("day") == today.isoformat():
            return
    # A crash between the defers and the checkpoint defers again next minute: the queueing
    # lock refuses a period still waiting, and the outbox's keys make a second send a no-op.
    frequencies: tuple[Frequency, ...] = ("daily", "weekly")
    for frequency in frequencies:
        day = compose.default_day(frequency, today)
        with contextlib.suppress(AlreadyEnqueued):
            send_digests.configure(queueing_lock=f"digest.send:{frequency}").defer(
                frequency=frequency, day=day.isoformat()
            )
    with current.db.transaction() as session:
        write_checkpoint(session, "digest:scheduled", {"day": today.isoformat()})


@blueprint.periodic(cron="* * * * *", periodic_id="minutely")
@blueprint.task(name="mail.drain", queue="mail", queueing_lock="mail.drain")
def drain_outbox(timestamp: int) -> int:
    """Send queued mail the web site could not send at once (confirmations), each mail once."""
    from paperfeed.digest import delivery

    current = site()
    return delivery.deliver(current.db, current.settings).sent


# --- the queue itself ---


@blueprint.periodic(cron="* * * * * */5", periodic_id="every-5-s")  # croniter: seconds last
@blueprint.task(name="queue.retry_stalled", queueing_lock="queue.retry_stalled", pass_context=True)
async def retry_stalled(context: JobContext, timestamp: int) -> int:
    """Hand the jobs of a worker that died mid-task (no heartbeat) back to the queue."""
    manager = context.app.job_manager
    dead_after = STALLED_BEATS * site().settings.queue_heartbeat_s
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=dead_after))
    for job in stalled:
        log.warning("job %s (%s) of a dead worker goes back to the queue", job.id, job.task_name)
        await manager.retry_job(job)
    return len(stalled)
