"""STARTTLS, implicit TLS and SMTP login against aiosmtpd with a certificate made for the test."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from digest.conftest import FAST_RETRY, MailHandler, add_active, free_port
from paperfeed.digest import service, subscriptions

DAY = date(2025, 6, 10)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """These tests are about the connection, not the store: SQLite only."""
    return sqlite_url


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for localhost that this test's clients trust (SSL_CERT_FILE)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return key, cert


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    if auth_data.login == b"digest" and auth_data.password == b"s3cret":
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)  # aiosmtpd answers 535


@pytest.fixture
def tls_servers(certificate) -> Iterator[dict[str, tuple[MailHandler, int]]]:
    """A STARTTLS server that requires TLS and a login, and an implicit-TLS (SMTPS) server."""
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    servers = {}
    controllers = []
    for kind in ("starttls", "ssl"):
        handler, port = MailHandler(), free_port()
        options = (
            {
                "tls_context": context,
                "require_starttls": True,
                "authenticator": _authenticate,
                "auth_required": True,
            }
            if kind == "starttls"
            else {"ssl_context": context, "authenticator": _authenticate, "auth_require_tls": False}
        )
        controller = Controller(
            handler, hostname="localhost", port=port, server_hostname="localhost", **options
        )
        controller.start()
        controllers.append(controller)
        servers[kind] = (handler, port)
    yield servers
    for controller in controllers:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_digests_go_over_tls_with_a_login(
    digest_db, digest_settings, tls_servers, security
) -> None:
    handler, port = tls_servers[security]
    settings = digest_settings.model_copy(
        update={
            "smtp_host": "localhost",
            "smtp_port": port,
            "smtp_security": security,
            "smtp_user": "digest",
            "smtp_password": SecretStr("s3cret"),
        }
    )
    add_active(digest_db, "tls@example.org")
    _, sent = service.send_digests(digest_db, settings, "daily", DAY, retry=FAST_RETRY)
    assert sent.sent == 1 and sent.stopped is None
    assert len(handler.to("tls@example.org")) == 1


def test_a_refused_login_stops_the_run_without_blaming_the_address(
    digest_db, digest_settings, tls_servers
) -> None:
    handler, port = tls_servers["starttls"]
    settings = digest_settings.model_copy(
        update={
            "smtp_host": "localhost",
            "smtp_port": port,
            "smtp_security": "starttls",
            "smtp_user": "digest",
            "smtp_password": SecretStr("wrong"),
        }
    )
    add_active(digest_db, "innocent@example.org")
    _, sent = service.send_digests(digest_db, settings, "daily", DAY, retry=FAST_RETRY)
    assert sent.sent == 0 and "refused the login" in sent.stopped
    with digest_db.sessions() as session:
        assert subscriptions.by_email(session, "innocent@example.org").status == "active"
    assert handler.received == []
    # Without TLS the server refuses to go on: a clear stop, not a bounce either.
    plain = digest_settings.model_copy(update={"smtp_host": "localhost", "smtp_port": port})
    _, sent = service.send_digests(digest_db, plain, "daily", DAY, retry=FAST_RETRY)
    assert sent.sent == 0 and sent.stopped
