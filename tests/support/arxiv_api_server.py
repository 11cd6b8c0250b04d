"""A loopback arXiv API (`GET /api/query?id_list=ID`) answering Atom for given records.

Records are dicts shaped like the shared arxiv-cs snapshot's lines (`id`, `title`, `abstract`,
`authors_list`, `categories`, `comments`) plus `published`, a datetime: the arXiv API reports
when the first version was submitted, which the snapshot does not keep. An unknown id gets an
empty feed, as arXiv answers. `status` makes every answer that HTTP status (a failing arXiv).
"""

from __future__ import annotations

import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr


class ArxivApiServer(ThreadingHTTPServer):
    """Serves `records` (by id); `requests` logs every id asked for."""

    def __init__(self, records: list[dict]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.records = {r["id"]: r for r in records}
        self.requests: list[str] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/query"

    def __enter__(self) -> ArxivApiServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def atom_entry(record: dict) -> str:
    """One <entry> as the arXiv API writes it."""
    published: datetime = record["published"]
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    categories = record["categories"].split()
    authors = "".join(
        f"<author><name>{escape(name)}</name></author>" for name in _author_names(record)
    )
    comment = (
        f"<arxiv:comment>{escape(record['comments'])}</arxiv:comment>"
        if record.get("comments") not in (None, "", "None")
        else ""
    )
    return (
        f"<entry><id>http://arxiv.org/abs/{record['id']}v1</id>"
        f"<updated>{stamp}</updated><published>{stamp}</published>"
        f"<title>{escape(record['title'])}</title><summary>{escape(record['abstract'])}</summary>"
        f"{authors}{comment}"
        f"<arxiv:primary_category term={quoteattr(categories[0])}/>"
        + "".join(f"<category term={quoteattr(c)}/>" for c in categories)
        + "</entry>"
    )


def _author_names(record: dict) -> list[str]:
    listed = record.get("authors_list")
    if listed:
        return [str(name) for name in listed]
    return [name.strip() for name in record.get("authors", "").split(",") if name.strip()]


class _Handler(BaseHTTPRequestHandler):
    server: ArxivApiServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        wanted = parse_qs(parts.query).get("id_list", [""])[0]
        self.server.requests.append(wanted)
        if self.server.status != 200:
            self._send(self.server.status, b"unavailable")
            return
        record = self.server.records.get(wanted)
        entries = atom_entry(record) if record else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom" '
            'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"<title>arXiv Query: id_list={escape(wanted)}</title>"
            f"<opensearch:totalResults>{1 if record else 0}</opensearch:totalResults>"
            f"{entries}</feed>"
        )
        self._send(200, body.encode())

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/atom+xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass
