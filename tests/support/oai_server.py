"""A real OAI-PMH repository on loopback serving arXiv records, for harvester tests.

It answers ListRecords with metadataPrefix `arXiv` the way arXiv does: namespaced XML, wrapped
titles and abstracts, resumption tokens with completeListSize and cursor, and OAI errors for bad
arguments. Tests turn knobs on it (503s, a held or malformed page) and read its request log.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import secrets
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ARXIV_NS = "http://arxiv.org/OAI/arXiv/"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SET = re.compile(r"^[a-z][a-z\-]*(:[a-z][A-Za-z.\-]*)*$")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def load_records(path: Path, limit: int) -> list[dict]:
    """The first `limit` records of an arXiv JSON-lines file (the shared arxiv-cs snapshot)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in itertools.islice(lines, limit)]


def record_sets(record: dict) -> set[str]:
    """The OAI sets a record is in: the archive of each of its categories (cs, eess, ...)."""
    return {category.split(".")[0] for category in record["categories"].split()}


@dataclass(frozen=True)
class ServedRequest:
    at: float  # time.monotonic() when the request arrived
    params: dict[str, str]
    status: int
    page: int | None  # 1-based page of the listing; None when the answer was an OAI error


class OaiServer:
    """ListRecords over `records`, dicts shaped like the shared file's lines.

    A record's datestamp is its `first_seen_date`. Records may carry `deleted: True` (served as
    a deleted header) or `id`/`title` set to None (the element is left out). Knobs, settable at
    any time: `busy_page`/`busy_times` (503 with Retry-After), `hold_page` (the response waits
    until `release()`; `held` is set meanwhile), `malformed_page`/`malformed_times` (truncated
    XML), `tamper` (rewrites any page's body). Tokens stay valid until `expire_tokens()`.
    """

    def __init__(self, records: list[dict], *, page_size: int = 100, retry_after: int = 1):
        self.records = records
        self.page_size = page_size
        self.retry_after = retry_after
        self.busy_page: int | None = None
        self.busy_times = 0
        self.hold_page: int | None = None
        self.malformed_page: int | None = None
        self.malformed_times = 0
        self.tamper: Callable[[int, bytes], bytes] | None = None
        self.requests: list[ServedRequest] = []
        self.held = threading.Event()
        self._release = threading.Event()
        self._tokens: dict[str, tuple[tuple[str | None, str | None, str | None], int]] = {}
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self.url = ""

    def __enter__(self) -> OaiServer:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        serve = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        serve.start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/oai"
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._http is not None
        self._http.shutdown()
        self._http.server_close()

    def release(self) -> None:
        """Let a held response go (and stop holding)."""
        self.hold_page = None
        self._release.set()

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def matching(self, from_: str | None, until: str | None, set_spec: str | None) -> list[dict]:
        """The records a harvest of this window and set receives, deleted ones included."""
        return [
            r
            for r in self.records
            if (from_ is None or r["first_seen_date"] >= from_)
            and (until is None or r["first_seen_date"] <= until)
            and (set_spec is None or set_spec.split(":")[-1] in record_sets(r))
        ]

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the answer to one request; logs the request."""
        at = time.monotonic()
        try:
            window, offset = self._listing(params)
        except _OaiFault as fault:
            self._log(params, 200, None, at)
            error = f"<error code={quoteattr(fault.code)}>{escape(fault.message)}</error>"
            return 200, {}, _envelope(params, error)
        page = offset // self.page_size + 1
        with self._lock:
            busy = page == self.busy_page and self.busy_times > 0
            if busy:
                self.busy_times -= 1
        if busy:
            self._log(params, 503, page, at)
            return 503, {"Retry-After": str(self.retry_after)}, b"busy, come back later"
        self._log(params, 200, page, at)
        if page == self.hold_page:
            self.held.set()
            self._release.wait(timeout=60)
        matches = self.matching(*window)
        body = "".join(_record_xml(r) for r in matches[offset : offset + self.page_size])
        if offset + self.page_size < len(matches):
            token = secrets.token_hex(8)
            self._tokens[token] = (window, offset + self.page_size)
            body += _token_xml(token, len(matches), offset)
        elif offset > 0:  # the last page of a list that needed tokens: an empty one
            body += _token_xml("", len(matches), offset)
        data = _envelope(params, f"<ListRecords>{body}</ListRecords>")
        with self._lock:
            truncate = page == self.malformed_page and self.malformed_times > 0
            if truncate:
                self.malformed_times -= 1
        if truncate:
            data = data[: len(data) // 2]
        return 200, {}, self.tamper(page, data) if self.tamper else data

    def _listing(self, params: dict[str, str]) -> tuple[tuple, int]:
        """The (from, until, set) window and offset of the requested page; raises _OaiFault."""
        if params.get("verb") != "ListRecords":
            raise _OaiFault("badVerb", f"only ListRecords is answered, not {params.get('verb')}")
        if "resumptionToken" in params:
            if set(params) != {"verb", "resumptionToken"}:
                raise _OaiFault("badArgument", "resumptionToken is an exclusive argument")
            if params["resumptionToken"] not in self._tokens:
                token = params["resumptionToken"]
                raise _OaiFault("badResumptionToken", f"unknown or expired token {token!r}")
            return self._tokens[params["resumptionToken"]]
        unknown = set(params) - {"verb", "metadataPrefix", "from", "until", "set"}
        if unknown:
            raise _OaiFault("badArgument", f"unknown arguments: {', '.join(sorted(unknown))}")
        if params.get("metadataPrefix") != "arXiv":
            raise _OaiFault("cannotDisseminateFormat", f"no {params.get('metadataPrefix')!r}")
        for name in ("from", "until"):
            if name in params and not _is_day(params[name]):
                raise _OaiFault("badArgument", f"{name} must be YYYY-MM-DD: {params[name]!r}")
        if "set" in params and not _SET.match(params["set"]):
            raise _OaiFault("badArgument", f"no such set: {params['set']!r}")
        window = (params.get("from"), params.get("until"), params.get("set"))
        if not self.matching(*window):
            raise _OaiFault("noRecordsMatch", "no records in this window")
        return window, 0

    def _log(self, params: dict[str, str], status: int, page: int | None, at: float) -> None:
        with self._lock:
            self.requests.append(ServedRequest(at, params, status, page))


class _OaiFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _handler_for(server: OaiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            params = {key: values[-1] for key, values in query.items()}
            if any(len(values) > 1 for values in query.values()):
                params["verb"] = "repeated-argument"  # answered as badVerb
            status, headers, body = server.answer(params)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the harvester was killed while the page was held

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _is_day(text: str) -> bool:
    try:
        return bool(_DAY.match(text)) and date.fromisoformat(text) is not None
    except ValueError:
        return False


def _envelope(params: dict[str, str], content: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attributes = "".join(f" {k}={quoteattr(v)}" for k, v in params.items() if k.isalpha())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{now}</responseDate>\n"
        f"<request{attributes}>http://export.arxiv.org/oai2</request>\n{content}\n</OAI-PMH>\n"
    ).encode()


def _token_xml(token: str, size: int, cursor: int) -> str:
    return f'<resumptionToken completeListSize="{size}" cursor="{cursor}">{token}</resumptionToken>'


def _record_xml(record: dict) -> str:
    identifier = f"oai:arXiv.org:{record.get('id') or record.get('oai_id', 'unknown')}"
    sets = "".join(f"<setSpec>{s}</setSpec>" for s in sorted(record_sets(record)))
    status = ' status="deleted"' if record.get("deleted") else ""
    header = (
        f"<header{status}><identifier>{identifier}</identifier>"
        f"<datestamp>{record['first_seen_date']}</datestamp>{sets}</header>"
    )
    if record.get("deleted"):
        return f"<record>{header}</record>\n"
    fields = [_element("id", record.get("id")), _element("created", record["first_seen_date"])]
    if record["last_seen_date"] != record["first_seen_date"]:
        fields.append(_element("updated", record["last_seen_date"]))
    authors = "".join(_author_xml(name) for name in record["authors_list"])
    fields += [
        f"<authors>{authors}</authors>",
        _element("title", _wrapped(record.get("title"))),
        _element("categories", record["categories"]),
        _element("comments", _wrapped(record.get("comments"))),
        _element("license", "http://creativecommons.org/licenses/by/4.0/"),
        _element("abstract", _wrapped(record.get("abstract"))),
    ]
    metadata = (
        f'<arXiv xmlns="{ARXIV_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ARXIV_NS} http://arxiv.org/OAI/arXiv.xsd">'
        + "".join(fields)
        + "</arXiv>"
    )
    return f"<record>{header}<metadata>{metadata}</metadata></record>\n"


def _author_xml(name: str) -> str:
    forenames, _, keyname = name.rpartition(" ")  # arXiv's split: family name last
    return f"<author>{_element('keyname', keyname)}{_element('forenames', forenames)}</author>"


def _element(tag: str, text: str | None) -> str:
    if not text:
        return ""
    return f"<{tag}>{escape(_NOT_XML.sub('', text))}</{tag}>"


def _wrapped(text: str | None) -> str | None:
    """Line-wrapped as arXiv's OAI feed wraps titles and abstracts."""
    if not text:
        return text
    return textwrap.fill(
        text, 78, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
