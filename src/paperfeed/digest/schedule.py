"""The built-in schedule: each day at the send time, the daily digest and any weekly one due."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, time, timedelta

from paperfeed.settings import Settings
from paperfeed.store.db import Database

from . import delivery, service

log = logging.getLogger(__name__)
# Mails queued by the web site (confirmations) are retried this often if the first try failed.
DRAIN_INTERVAL_S = 60.0


def next_send_at(now: datetime, send_time: str) -> datetime:
    """The first moment at or after `now` (UTC) when the clock shows `send_time` (HH:MM)."""
    hour, minute = map(int, send_time.split(":"))
    today = datetime.combine(now.date(), time(hour, minute), tzinfo=UTC)
    return today if today >= now else today + timedelta(days=1)


def run_due(db: Database, settings: Settings, now: datetime) -> None:
    """What the schedule does at the send time on `now`'s day."""
    today = now.date()
    # The weekly digest covers last ISO week, complete since Monday. Asking every day means a
    # site that was down on Monday still sends it; the outbox's keys make later days a no-op.
    plans: list[service.Frequency] = ["daily", "weekly"]
    for frequency in plans:
        composed, sent = service.send_digests(
            db, settings, frequency, service.compose.default_day(frequency, today)
        )
        log.info(
            "digest %s: %d papers, %d composed, %d sent%s",
            composed.key,
            composed.papers,
            composed.composed,
            sent.sent,
            f", stopped: {sent.stopped}" if sent.stopped else "",
        )


def run_forever(db: Database, settings: Settings, stop: threading.Event) -> None:
    """Send at each send time until `stop` is set; retry queued mail every minute in between.

    Started after today's send time, it sends today's digests at once (a restart never skips a
    day). Several processes may run this at once (web workers, cron): the outbox's unique keys
    and claims make each digest go out once all the same.
    """
    started = datetime.now(UTC)
    due = next_send_at(started.replace(hour=0, minute=0, second=0), settings.digest_send_time)
    while not stop.is_set():
        now = datetime.now(UTC)
        try:
            if now >= due:
                run_due(db, settings, now)
                due = next_send_at(now + timedelta(minutes=1), settings.digest_send_time)
            else:
                delivery.deliver(db, settings)
        except Exception:  # the schedule outlives one bad run; the next one resumes it
            log.exception("digest schedule run failed")
        stop.wait(min(DRAIN_INTERVAL_S, max(0.0, (due - datetime.now(UTC)).total_seconds())))


def start_thread(db: Database, settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """The schedule in a daemon thread (for `paperfeed serve`); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(db, settings, stop), name="digest-schedule", daemon=True
    )
    thread.start()
    return thread, stop
