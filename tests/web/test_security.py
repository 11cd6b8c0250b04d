"""Hostile requests: bodies capped before parsing, security headers, cookies, caching."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support.accounts import csrf_of, log_in, make_user

from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.web.app import create_app


@pytest.fixture
def app_db(sqlite_db: Database) -> Database:
    make_user(sqlite_db, "sec")
    return sqlite_db


def _client(db: Database, **settings) -> TestClient:
    return TestClient(create_app(Settings(database_url=db.url, **settings), db))


@pytest.fixture
def client(app_db: Database) -> Iterator[TestClient]:
    with _client(app_db, max_body_bytes=64 * 1024) as test_client:
        yield test_client


def test_a_large_body_is_refused_before_it_is_parsed(client: TestClient) -> None:
    """Audit finding: a 50 MB JSON body to /api/collections was parsed before the 401, and a
    54 MB form was accepted."""
    big = b'{"name": "' + b"x" * 200_000 + b'"}'
    api = client.post("/api/collections", content=big, headers={"Content-Type": "application/json"})
    assert api.status_code == 413 and "larger than the 65,536 bytes" in api.json()["error"]
    form = client.post("/login", data={"username": "u" * 100_000, "password": "p"})
    assert form.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 10_000

    streamed = client.post(
        "/api/collections", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    small = client.post("/api/collections", json={"name": "fine"})
    assert small.status_code == 401  # a small body gets as far as the token check


def test_security_headers_on_pages_api_and_errors(client: TestClient) -> None:
    for path in ("/", "/api/daily_papers", "/no/such/page", "/static/style.css"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in headers  # plain http: no HSTS
    page = client.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script to allow
    assert not re.search(r"<style|\sstyle=", page)


def test_https_sites_send_hsts_and_secure_cookies(app_db: Database) -> None:
    with _client(app_db, base_url="https://papers.example.org") as client:
        page = client.get("/login")
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert "secure" in page.headers["set-cookie"].lower()


def test_the_page_showing_a_new_token_is_never_stored(client: TestClient) -> None:
    token = log_in(client, "sec")
    page = client.post("/settings/tokens", data={"csrf_token": token, "name": "x"})
    assert 'id="new-token"' in page.text and page.headers["cache-control"] == "no-store"


def test_token_creation_is_rate_limited(app_db: Database) -> None:
    with _client(app_db, rate_limits={"token.user": "2/1h"}) as client:
        token = log_in(client, "sec")
        statuses = [
            client.post("/settings/tokens", data={"csrf_token": token}).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(app_db: Database) -> None:
    """Audit finding: the log-in limiter believed X-Forwarded-For from any peer."""
    settings = {"rate_limits": {"login.addr": "2/15m"}, "trusted_proxies": ["10.0.0.0/8"]}
    with _client(app_db, **settings) as proxy, _client(app_db, **settings) as direct:
        proxy_client = TestClient(proxy.app, client=("10.0.0.5", 1234))
        direct_client = TestClient(direct.app, client=("192.0.2.9", 1234))
        for client in (proxy_client, direct_client):
            csrf = csrf_of(client.get("/login").text)

            def fail(forwarded: str, client: TestClient = client, csrf: str = csrf) -> int:
                return client.post(
                    "/login", headers={"X-Forwarded-For": forwarded},
                    data={"csrf_token": csrf, "username": "sec", "password": "wrong pass"},
                ).status_code  # fmt: skip

            if client is proxy_client:  # each forwarded address has its own count
                assert [fail("198.51.100.1"), fail("198.51.100.2"), fail("198.51.100.3")] == [
                    400, 400, 400
                ]  # fmt: skip
                assert fail("198.51.100.1") == 400 and fail("198.51.100.1") == 429
            else:  # a direct client cannot pose as many addresses
                assert [fail("198.51.100.7"), fail("198.51.100.8"), fail("1.1.1.1")] == [
                    400, 400, 429
                ]  # fmt: skip
