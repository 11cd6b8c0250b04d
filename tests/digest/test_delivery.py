"""SMTP delivery: transient failures retry, permanent ones stop mailing, the CLI's exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from digest.conftest import BASE_URL, FAST_RETRY, add_active, free_port
from paperfeed.digest import delivery, outbox, service, subscriptions
from paperfeed.store.models import OutboxRow

DAY = date(2025, 6, 10)


def test_a_5xx_marks_the_address_and_stops_mailing_it(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    handler.refuse.add("gone@example.org")
    add_active(digest_db, "gone@example.org")
    add_active(digest_db, "here@example.org")
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY
    )
    assert (composed.composed, sent.sent, sent.bounced, sent.stopped) == (2, 1, 1, None)
    with digest_db.sessions() as session:
        row = subscriptions.by_email(session, "gone@example.org")
        assert row.status == "bounced" and "550" in row.bounce_reason
        failed = session.query(OutboxRow).filter_by(recipient="gone@example.org").one()
        assert failed.status == "failed" and failed.attempts == 1  # a 5xx is not retried
    composed, sent = service.send_digests(
        digest_db, digest_settings, "daily", date(2025, 6, 11), retry=FAST_RETRY
    )
    assert composed.composed == 1 and sent.sent == 1  # only the address that works
    assert handler.to("gone@example.org") == [] and len(handler.to("here@example.org")) == 2


def test_a_4xx_is_retried_with_backoff_and_the_mail_arrives_once(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    handler.defer_data["slow@example.org"] = 2
    add_active(digest_db, "slow@example.org")
    _, sent = service.send_digests(digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY)
    assert sent.sent == 1 and sent.stopped is None
    assert handler.defer_data["slow@example.org"] == 0  # both 451s were answered, then retried
    assert len(handler.to("slow@example.org")) == 1
    with digest_db.sessions() as session:
        row = session.query(OutboxRow).filter_by(recipient="slow@example.org").one()
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_a_server_that_stays_down_stops_the_run_and_the_next_run_sends(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _port = mail_server
    add_active(digest_db, "patient@example.org")
    down = digest_settings.model_copy(update={"smtp_port": free_port()})
    composed, sent = service.send_digests(digest_db, down, "daily", DAY, retry=FAST_RETRY)
    assert composed.composed == 1 and sent.sent == 0
    assert "cannot connect" in sent.stopped
    with digest_db.sessions() as session:
        assert outbox.counts(session) == {"pending": 1}
        assert "cannot connect" in session.query(OutboxRow).one().note
    report = delivery.deliver(digest_db, digest_settings, retry=FAST_RETRY)
    assert report.sent == 1 and len(handler.to("patient@example.org")) == 1


def _cli(digest_db, digest_settings, port: int, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": digest_db.url,
        "PAPERFEED_HOME": str(digest_settings.home),
        "PAPERFEED_BASE_URL": BASE_URL,
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(port),
    }
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", "digest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_send_preview_and_exit_statuses(digest_db, digest_settings, mail_server) -> None:
    handler, port = mail_server
    add_active(digest_db, "cli@example.org", keywords="agents")

    preview = _cli(
        digest_db,
        digest_settings,
        port,
        "preview",
        "--email",
        "CLI@example.org",
        "--date",
        "2025-06-10",
    )
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.startswith("Subject: paperfeed: ") and "== Trending today ==" in (
        preview.stdout
    )
    html = _cli(
        digest_db,
        digest_settings,
        port,
        "preview",
        "--email",
        "cli@example.org",
        "--date",
        "2025-06-10",
        "--html",
    )
    assert html.stdout.lstrip().startswith("<!doctype html>")
    assert handler.received == []
    bad = _cli(digest_db, digest_settings, port, "preview", "--email", "not-an-address")
    assert bad.returncode == 2 and "not an email address" in bad.stderr

    weekend = _cli(
        digest_db, digest_settings, port, "send", "--period", "daily", "--date", "2025-06-14"
    )
    assert weekend.returncode == 0 and "no papers in this period" in weekend.stdout
    assert _cli(digest_db, digest_settings, port, "send", "--period", "monthly").returncode == 2

    down = _cli(digest_db, digest_settings, free_port(), "send", "--date", "2025-06-10")
    assert down.returncode == 1 and "run again to send the rest" in down.stderr
    sent = _cli(digest_db, digest_settings, port, "send", "--date", "2025-06-10")
    assert sent.returncode == 0 and "sent 1 mails" in sent.stdout
    assert len(handler.to("cli@example.org")) == 1
