"""Fixtures for the digest tests: a real SMTP server on loopback, a database of real daily lists."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_files

from paperfeed.digest import subscriptions
from paperfeed.digest.delivery import RetryPolicy
from paperfeed.digest.subscriptions import Interests
from paperfeed.ingest import hf_daily
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app

# 9 to 19 June 2025: week 24 (the 14th and 15th, a weekend, have no lists) and most of week 25.
DIGEST_FILES = [*hf_files(HF_API_DIR, "2025-06-09"), *hf_files(HF_API_DIR, "2025-06-1")]
BASE_URL = "http://testserver"  # what TestClient answers, so links in mails can be fetched
FAST_RETRY = RetryPolicy(attempts=3, first_wait_s=0.01, max_wait_s=0.05)


@dataclass
class Received:
    """One message the server accepted."""

    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class MailHandler:
    """An aiosmtpd handler that keeps every message, and can refuse or defer on request."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # RCPT TO gets 550
    defer_data: dict[str, int] = field(default_factory=dict)  # this many 451s at end of DATA
    reject_data: dict[str, str] = field(default_factory=dict)  # this reply at end of DATA
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (phase, address) -> (entered, release): the server stops there until the test releases it
    holds: dict[tuple[str, str], tuple[threading.Event, threading.Event]] = field(
        default_factory=dict
    )

    def hold(self, phase: str, address: str) -> tuple[threading.Event, threading.Event]:
        """Make the server wait in RCPT or DATA of `address`: (entered, release) events."""
        events = (threading.Event(), threading.Event())
        self.holds[(phase, address)] = events
        return events

    async def _maybe_hold(self, phase: str, address: str) -> None:
        events = self.holds.pop((phase, address), None)
        if events is not None:
            events[0].set()
            await asyncio.get_running_loop().run_in_executor(None, events[1].wait)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await self._maybe_hold("RCPT", address)
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        for address in envelope.rcpt_tos:
            await self._maybe_hold("DATA", address)
        for address in envelope.rcpt_tos:
            if address in self.reject_data:
                return self.reject_data[address]
            if self.defer_data.get(address, 0) > 0:
                self.defer_data[address] -= 1
                return "451 4.3.0 Try again later"
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received if address in r.recipients]

    def wait_for(self, address: str, count: int = 1, timeout_s: float = 15.0) -> list[EmailMessage]:
        """The mails to `address` once `count` arrived (a live server sends after answering)."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.to(address)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mail_server() -> Iterator[tuple[MailHandler, int]]:
    """A real SMTP server (aiosmtpd) on a loopback port: (handler, port)."""
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def digest_db(database_url: str) -> Iterator[Database]:
    """A database on each backend holding the real daily lists of DIGEST_FILES."""
    db = Database(database_url)
    report = hf_daily.import_paths(db, DIGEST_FILES)
    assert report.ok, report.rejected
    yield db
    db.close()


@pytest.fixture
def digest_settings(digest_db: Database, mail_server, tmp_path: Path) -> Settings:
    _, port = mail_server
    return Settings(
        database_url=digest_db.url,
        home=tmp_path / "home",
        base_url=BASE_URL,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_s=10,
        mail_from="paperfeed <digest@paperfeed.test>",
    )


@pytest.fixture
def client(digest_db: Database, digest_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(digest_settings, digest_db)) as test_client:
        yield test_client


def add_active(
    db: Database, address: str, frequency: str = "daily", user_id: int | None = None, **interests
) -> int:
    """A confirmed subscription (the opt-in flow has its own test); returns its id."""
    with db.transaction() as session:
        row = subscriptions.request(
            session, address, frequency, Interests(**interests), user_id=user_id
        )
        subscriptions.confirm(session, row)
        return row.id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def links_in(html: str) -> list[str]:
    """Every href of an HTML part, unescaped."""
    import html as html_lib

    return [html_lib.unescape(href) for href in re.findall(r'href="([^"]+)"', html)]
