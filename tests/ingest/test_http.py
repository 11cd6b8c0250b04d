"""The polite client is a bounded one: hosts, redirects, answer size, time, Retry-After."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from paperfeed.ingest.http import PoliteClient, RemoteError

BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # 200 MB in about 200 kB


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/elsewhere":  # a redirect to another host name of the same server
            self._answer(302, b"", {"Location": f"http://localhost:{port}/ok"})
        elif self.path == "/here":
            self._answer(302, b"", {"Location": "/ok"})
        elif self.path == "/bomb":
            self._answer(200, BOMB, {"Content-Encoding": "gzip"})
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/busy":
            self._answer(503, b"busy", {"Retry-After": "600"})
        else:
            self._answer(200, b"fine", {})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_redirects_stay_on_the_host_asked(server: str) -> None:
    with PoliteClient(delay_s=0, retries=0) as client:
        assert client.get(f"{server}/here").text == "fine"
        with pytest.raises(RemoteError, match="refused to follow a redirect to localhost"):
            client.get(f"{server}/elsewhere")
    with PoliteClient(delay_s=0, retries=0, allowed_hosts=frozenset({"localhost"})) as client:
        assert client.get(f"{server}/elsewhere").text == "fine"  # an allowed host


def test_a_small_gzip_answer_that_unpacks_huge_is_cut_off(server: str) -> None:
    """Audit finding: a 306 kB gzip answer took the OAI harvester to 1.36 GB."""
    client = PoliteClient(delay_s=0, retries=0, max_bytes=8 * 1024 * 1024)
    with client, pytest.raises(RemoteError, match="more than 8,388,608 bytes"):
        client.get(f"{server}/bomb")


def test_a_trickling_answer_is_given_up_at_the_deadline(server: str) -> None:
    started = time.monotonic()
    client = PoliteClient(delay_s=0, retries=0, timeout_s=5, deadline_s=0.5)
    with client, pytest.raises(RemoteError, match="took longer than"):
        client.get(f"{server}/drip")
    assert time.monotonic() - started < 2


def test_retry_after_is_waited_out_only_up_to_the_cap(server: str) -> None:
    started = time.monotonic()
    client = PoliteClient(delay_s=0, retries=1, max_retry_after_s=0.2)
    with client, pytest.raises(RemoteError, match="HTTP 503"):
        client.get(f"{server}/busy")
    assert time.monotonic() - started < 3
