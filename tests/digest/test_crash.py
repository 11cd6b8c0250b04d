"""A sender killed with SIGKILL in the middle of 1,000 digests, restarted: each arrives once.

The kills land where exactly-once is hardest, held there by the test's SMTP server: in RCPT TO of
one message, and in the server's handling of another's end of DATA (the whole message written,
no answer yet). In both the row is claimed by the dead sender and the server drops the message
when the connection closes, so the restarted sender must send it, and only it, again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

from digest.conftest import BASE_URL
from paperfeed.digest import outbox, subscriptions
from paperfeed.digest.subscriptions import Interests
from paperfeed.store.models import OutboxRow

COUNT = 1000
KEY = "daily:2025-06-10"
KEYWORDS = ["diffusion", "agents", "reinforcement learning", "benchmark", "video", "reasoning"]


def _sender(env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "paperfeed.cli",
        "digest",
        "send",
        "--period",
        "daily",
        "--date",
        "2025-06-10",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when(entered, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while not entered.wait(0.05):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sender never reached the held message"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _row(db, address: str) -> OutboxRow:
    with db.sessions() as session:
        return session.query(OutboxRow).filter_by(recipient=address, key=KEY).one()


def test_sigkill_mid_batch_then_restart_sends_each_digest_exactly_once(
    digest_db, digest_settings, mail_server
) -> None:
    handler, port = mail_server
    handler.delay_s = 0.001
    with digest_db.transaction() as session:
        for n in range(COUNT):
            row = subscriptions.request(
                session,
                f"reader{n}@example.org",
                "daily",
                Interests(
                    keywords=[KEYWORDS[n % len(KEYWORDS)]], categories=["cs.CV"] if n % 3 else []
                ),
            )
            subscriptions.confirm(session, row)
    env = {
        **os.environ,
        "PAPERFEED_DATABASE_URL": digest_db.url,
        "PAPERFEED_HOME": str(digest_settings.home),
        "PAPERFEED_BASE_URL": BASE_URL,
        "PAPERFEED_SMTP_HOST": "127.0.0.1",
        "PAPERFEED_SMTP_PORT": str(port),
        "PAPERFEED_MAIL_FROM": "paperfeed <digest@paperfeed.test>",
    }

    # Kill 1: the server holds RCPT TO of reader300; the sender has claimed that row only.
    entered, release = handler.hold("RCPT", "reader300@example.org")
    _kill_when(entered, _sender(env))
    row = _row(digest_db, "reader300@example.org")
    assert row.status == "sending" and row.claimed_by
    release.set()  # the server sees the connection gone: no message
    assert len(handler.to("reader300@example.org")) == 0

    # Kill 2: the whole of reader650's message is written; the server is handling its end.
    entered, release = handler.hold("DATA", "reader650@example.org")
    _kill_when(entered, _sender(env))
    assert _row(digest_db, "reader650@example.org").status == "sending"  # no 250 yet
    release.set()
    time.sleep(0.2)
    assert handler.to("reader650@example.org") == []  # the server dropped it with the connection
    assert len(handler.to("reader649@example.org")) == 1
    with digest_db.sessions() as session:
        assert outbox.counts(session, KEY).get("pending", 0) > 0  # work was left undone

    final = _sender(env)
    stdout, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr.decode()
    # reader650's claim (and the unsent rest of its batch), its owner dead
    assert re.search(r"took back \d+ mails", stderr.decode())
    assert "0 digests composed" in stdout.decode() and "1000 composed before" in stdout.decode()

    ids = Counter(received.message["Message-ID"] for received in handler.received)
    assert {mid: n for mid, n in ids.items() if n > 1} == {}
    assert len(ids) == COUNT
    recipients = Counter(r for received in handler.received for r in received.recipients)
    assert set(recipients.values()) == {1} and len(recipients) == COUNT
    with digest_db.sessions() as session:
        assert outbox.counts(session, KEY) == {"sent": COUNT}
        assert {row.message_id for row in session.query(OutboxRow)} == set(ids)
