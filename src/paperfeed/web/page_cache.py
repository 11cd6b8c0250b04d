"""A cache of rendered pages and API answers, kept per worker, keyed by the site version.

Plain ASGI middleware inside the session middleware. A GET of a public address is answered from
the cache when the entry was rendered at the current site version (see store/site_version.py:
every public write on any node raises it) and is younger than `page_cache_max_age_s` (trending
ages with the clock). Otherwise the page is rendered and, when it is a 200 that set no cookie of
its own, kept. A form's CSRF token is kept as a placeholder and filled in per visitor, so pages
with the digest sign-up form are shared too.

Visitors who are not logged in share one entry per address. A logged-in reader's pages (their
votes, saves and forms in them) are kept for that log-in alone, keyed by a hash of its session
id, and are current only while the reader version is unchanged too (log-ins and log-outs,
"not interested", subscriptions, tokens: the writes only their owner sees); the reader's own
vote raises the site version, so it shows on the next page. Requests with a bearer token, or
with a message waiting in the session, are never cached.

Every answer it handles carries an ETag (a hash of the page) and Last-Modified (when the
version last changed), and a conditional GET that matches gets 304. Logged-in readers' answers
are marked `Cache-Control: private, no-cache`.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

import anyio
import anyio.to_thread
from cachetools import LRUCache
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.core.errors import Unavailable
from paperfeed.store.site_version import Version, VersionReader
from paperfeed.web.auth import CSRF_FIELD, LOGIN_FIELD, csrf_token
from paperfeed.web.shared_pages import SharedPages

# Addresses whose anonymous answers depend only on the address and the database.
_PUBLIC_PREFIXES = (
    "/papers", "/search", "/trending", "/orgs", "/authors", "/collections", "/users/",
    "/api/daily_papers", "/api/papers", "/api/collections",
)  # fmt: skip
_PLACEHOLDER = b"\x00paperfeed-csrf\x00"
_DROPPED = {b"content-length", b"etag", b"last-modified", b"cache-control", b"vary"}
_PUBLIC = b"public, no-cache"  # shared, but asked again each time (an ETag makes that cheap)
_PRIVATE = b"private, no-cache"
_VARY = b"Cookie, Authorization"
IO_THREADS = 4  # the cache's own reads and writes at once (see PageCache._io)


@dataclass(frozen=True)
class Entry:
    """One rendered answer: its status line and headers, its body (CSRF token as placeholder)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    digest: str
    has_form: bool
    version: tuple[int, ...]
    stored_at: float


class PageCache:
    """The middleware; `max_bytes` bounds the bodies kept (least recently used go first)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        versions: VersionReader,
        max_bytes: int,
        max_age_s: float,
        shared: SharedPages | None = None,
    ) -> None:
        self.app = app
        self.shared = shared  # anonymous pages the node's other workers rendered
        self.versions = versions
        self.max_age_s = max_age_s
        self.entries: LRUCache[tuple[str, bytes, bytes], Entry] = LRUCache(
            maxsize=max(1, max_bytes), getsizeof=lambda entry: len(entry.body) + 256
        )
        self.enabled = max_bytes > 0
        self._io_limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        visitor = _visitor(scope)
        if visitor != _ANONYMOUS:
            send = _with_cache_control(send, _PRIVATE)
        if visitor is None or not self.enabled or not _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            version = self.versions.current_nowait()
            if version is None:
                version = await anyio.to_thread.run_sync(
                    self.versions.current, limiter=self._io()
                )
        except Unavailable:  # the database is away: the app answers (a 503 if it needs it)
            await self.app(scope, receive, send)
            return
        stamp = (version.number,) if visitor == _ANONYMOUS else (version.number, version.reader)
        key = (scope["path"], scope.get("query_string", b""), visitor)
        entry = self.entries.get(key)
        if (
            entry is None
            or entry.version != stamp
            or time.monotonic() - entry.stored_at > self.max_age_s
        ):
            shared = self.shared if visitor == _ANONYMOUS else None
            address = _address(scope)
            entry = (
                await anyio.to_thread.run_sync(
                    _from_shared, shared, address, stamp, limiter=self._io()
                )
                if shared is not None
                else None
            )
            rendered = entry is None
            if entry is None:
                entry = await self._render(scope, receive, send, visitor, stamp)
                if entry is None:
                    return  # answered as rendered: not a page to keep
            if len(entry.body) < self.entries.maxsize:
                self.entries[key] = entry
            if rendered and shared is not None:
                await _answer(scope, send, entry, version, private=False)
                await anyio.to_thread.run_sync(
                    _to_shared, shared, address, entry, limiter=self._io()
                )
                return
        await _answer(scope, send, entry, version, private=visitor != _ANONYMOUS)

    def _io(self) -> anyio.CapacityLimiter:
        """Threads of the cache's own short reads and writes (the site version, the shared
        pages file): they never wait in line behind the requests the app is working on, whose
        thread pool is kept small (settings.request_threads)."""
        if self._io_limiter is None:  # made in the event loop: anyio's limiters belong to one
            self._io_limiter = anyio.CapacityLimiter(IO_THREADS)
        return self._io_limiter

    async def _render(
        self, scope: Scope, receive: Receive, send: Send, visitor: bytes, stamp: tuple[int, ...]
    ) -> Entry | None:
        """Run the app; its answer as an Entry if it may be kept, else None (already sent)."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None, "the app sent no response"
        headers = list(start.get("headers", []))
        body = b"".join(chunks)
        keep = (
            start["status"] == 200
            and not any(name.lower() == b"set-cookie" for name, _ in headers)
            and _visitor(scope) == visitor  # it did not log anyone in or out, or leave a message
        )
        if not keep:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return None
        token = scope.get("session", {}).get(CSRF_FIELD)
        has_form = bool(token) and token.encode() in body
        if has_form:
            body = body.replace(token.encode(), _PLACEHOLDER)
        return Entry(
            status=200,
            headers=[(name, value) for name, value in headers if name.lower() not in _DROPPED],
            body=body,
            digest=hashlib.blake2b(body, digest_size=12).hexdigest(),
            has_form=has_form,
            version=stamp,
            stored_at=time.monotonic(),
        )


def _address(scope: Scope) -> str:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return f"{scope['path']}?{query}"


def _from_shared(shared: SharedPages, address: str, stamp: tuple[int, ...]) -> Entry | None:
    kept = shared.get(address, stamp)
    if kept is None:
        return None
    status, headers, body, digest, has_form, version, stored_wall = kept
    age = max(0.0, time.time() - stored_wall)
    return Entry(status, headers, body, digest, has_form, version, time.monotonic() - age)


def _to_shared(shared: SharedPages, address: str, entry: Entry) -> None:
    age = max(0.0, time.monotonic() - entry.stored_at)
    shared.put(
        address,
        (entry.status, entry.headers, entry.body, entry.digest, entry.has_form, entry.version,
         time.time() - age),
    )  # fmt: skip


async def _answer(
    scope: Scope, send: Send, entry: Entry, version: Version, *, private: bool
) -> None:
    body = entry.body
    etag = entry.digest
    if entry.has_form:
        token = csrf_token(Request(scope))  # this visitor's (made now if they had none)
        body = body.replace(_PLACEHOLDER, token.encode())
        etag = hashlib.blake2b(f"{etag}{token}".encode(), digest_size=12).hexdigest()
    tag = f'"{etag}"'.encode()
    changed = max(version.changed_at, version.reader_changed_at) if private else version.changed_at
    common = [
        (b"etag", tag),
        (b"last-modified", _http_date(changed)),
        (b"cache-control", _PRIVATE if private else _PUBLIC),
        (b"vary", _VARY),
    ]
    if _not_modified(scope, tag, changed):
        await send({"type": "http.response.start", "status": 304, "headers": common})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [*entry.headers, *common, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _not_modified(scope: Scope, tag: bytes, changed_at: datetime) -> bool:
    """Whether the conditional headers say the client's copy is current (RFC 9110 13.2.2)."""
    matches = _header(scope, b"if-none-match")
    if matches is not None:
        given = {part.strip().removeprefix(b"W/") for part in matches.split(b",")}
        return tag in given or b"*" in given
    since = _header(scope, b"if-modified-since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since.decode("latin-1"))
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        return False
    return changed_at.replace(microsecond=0) <= when


_ANONYMOUS = b""


def _visitor(scope: Scope) -> bytes | None:
    """Whose cache entries this request may use: everyone's (b""), one log-in's (a hash of its
    session id), or none (a bearer token, a message waiting, anything else in the session)."""
    if _header(scope, b"authorization") is not None:
        return None
    session = scope.get("session") or {}
    if any(key not in (CSRF_FIELD, LOGIN_FIELD) for key in session):
        return None
    login = session.get(LOGIN_FIELD)
    if login is None:
        return _ANONYMOUS
    if not isinstance(login, str):
        return None
    return b"r:" + hashlib.blake2b(login.encode(), digest_size=16).hexdigest().encode()


# Search answers come from this node's index replica, which follows the database seconds after
# the version moves: kept here, an answer from before the replica caught up would outlive it.
_NODE_LOCAL = ("/search", "/api/papers/search")


def _public(path: str) -> bool:
    if path.startswith(_NODE_LOCAL):
        return False
    return path == "/" or path.startswith(_PUBLIC_PREFIXES)


def _with_cache_control(send: Send, value: bytes) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", value))
                message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def _http_date(moment: datetime) -> bytes:
    return format_datetime(moment.replace(microsecond=0), usegmt=True).encode()
