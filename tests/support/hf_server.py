"""A loopback HTTP server answering GET /api/daily_papers?date=... from saved real responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class DailyPapersServer(ThreadingHTTPServer):
    """Serves `{folder}/YYYY-MM-DD.json` the way the Hugging Face API pages it.

    `busy_first` answers that many requests with 503 and Retry-After: 1 first, as a loaded server
    does; every request is recorded in `requests`.
    """

    def __init__(self, folder: Path, busy_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.folder = folder
        self.busy_left = busy_first
        self.requests: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: DailyPapersServer

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        with self.server.lock:
            self.server.requests.append(self.path)
            busy = self.server.busy_left > 0
            self.server.busy_left -= busy
        if busy:
            self._send(503, {"error": "busy"}, {"Retry-After": "1"})
        elif parsed.path != "/api/daily_papers" or "date" not in query:
            self._send(404, {"error": "not found"})
        else:
            file = self.server.folder / f"{query['date']}.json"
            entries = json.loads(file.read_text()) if file.is_file() else []
            page, limit = int(query.get("p", 0)), int(query.get("limit", 50))
            self._send(200, entries[page * limit : (page + 1) * limit])

    def _send(self, status: int, body: object, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@contextmanager
def serve_daily_papers(folder: Path, busy_first: int = 0) -> Iterator[DailyPapersServer]:
    server = DailyPapersServer(folder, busy_first)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
