"""SMTP delivery: transient failures retry, permanent ones stop mailing, the CLI's exit status."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

from typer.testing import CliRunner

from digest.conftest import BASE_URL, FAST_RETRY, add_active, free_port
from paperfeed import cli
from paperfeed.digest import delivery, outbox, service, subscriptions
from paperfeed.settings import get_settings
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

    # A week on, sent mails keep their facts but not their bodies; unsent ones keep everything.
    add_active(digest_db, "later@example.org")
    service.compose_due(digest_db, digest_settings, "daily", DAY)
    with digest_db.transaction() as session:
        assert outbox.forget_bodies(session, before=datetime.now(UTC).replace(tzinfo=None)) == 1
        rows = {row.recipient: row for row in session.query(OutboxRow)}
    assert rows["patient@example.org"].message == "" and rows["patient@example.org"].paper_ids
    later = rows["later@example.org"]
    assert later.status == "pending" and "List-Unsubscribe" in later.message


def _cli(digest_db, digest_settings, port: int, *args: str):
    """Run `paperfeed digest ...` in this process (the crash test runs it as a real process)."""
    env = {
        "PAPERFEED_DATABASE_URL": digest_db.url,
        "PAPERFEED_HOME": str(digest_settings.home),
        "PAPERFEED_BASE_URL": BASE_URL,
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(port),
        "PAPERFEED_SMTP_RETRY_WAIT_S": "0.01",
    }
    get_settings.cache_clear()
    result = CliRunner().invoke(cli.app, ["digest", *args], env=env)
    get_settings.cache_clear()
    return result


def test_cli_send_preview_and_exit_statuses(digest_db, digest_settings, mail_server) -> None:
    handler, port = mail_server
    add_active(digest_db, "cli@example.org", keywords="agents")
    run = functools.partial(_cli, digest_db, digest_settings, port)

    preview = run("preview", "--email", "CLI@example.org", "--date", "2025-06-10")
    assert preview.exit_code == 0, preview.stderr
    assert preview.stdout.startswith("Subject: paperfeed: ")
    assert "== Trending today ==" in preview.stdout
    html = run("preview", "--email", "cli@example.org", "--date", "2025-06-10", "--html")
    assert html.stdout.lstrip().startswith("<!doctype html>")
    assert handler.received == []
    bad = run("preview", "--email", "not-an-address")
    assert bad.exit_code == 2 and "not an email address" in bad.stderr

    weekend = run("send", "--period", "daily", "--date", "2025-06-14")
    assert weekend.exit_code == 0 and "no papers in this period" in weekend.stdout
    assert run("send", "--period", "monthly").exit_code == 2

    down = _cli(digest_db, digest_settings, free_port(), "send", "--date", "2025-06-10")
    assert down.exit_code == 1 and "run again to send the rest" in down.stderr
    sent = run("send", "--date", "2025-06-10")
    assert sent.exit_code == 0 and "sent 1 mails" in sent.stdout
    assert len(handler.to("cli@example.org")) == 1


def test_a_5xx_about_the_message_fails_the_mail_but_keeps_the_address(
    digest_db, digest_settings, mail_server
) -> None:
    handler, _ = mail_server
    handler.reject_data["policy@example.org"] = "554 5.7.1 Message refused by policy"
    handler.reject_data["unknown@example.org"] = "550 5.1.1 Mailbox unknown"
    add_active(digest_db, "policy@example.org")
    add_active(digest_db, "unknown@example.org")
    _, sent = service.send_digests(digest_db, digest_settings, "daily", DAY, retry=FAST_RETRY)
    assert (sent.sent, sent.refused, sent.bounced, sent.stopped) == (0, 1, 1, None)
    with digest_db.sessions() as session:
        assert subscriptions.by_email(session, "policy@example.org").status == "active"
        assert subscriptions.by_email(session, "unknown@example.org").status == "bounced"
        failed = session.query(OutboxRow).filter_by(recipient="policy@example.org").one()
        assert failed.status == "failed" and "5.7.1" in failed.note
