"""Rendered anonymous pages shared by the workers of one node, in a file of its data folder.

Each worker's PageCache keeps pages in memory; without this, `serve --workers N` renders every
page N times, once in each worker. A page one worker rendered is written here (`pages.sqlite`)
with the site version it was rendered at and when, and another worker that misses it in memory
reads it from here instead of rendering it. The same rules hold as in memory: an entry of
another version, or older than the cache's age limit, is not used. Rows past the age limit are
deleted as pages are written, and the oldest beyond the cache's size bound, so the file holds
at most about that bound (plus the pages written since the last pruning).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

from paperfeed.core.node_file import NodeFile

log = logging.getLogger(__name__)

FILE_NAME = "pages.sqlite"
PRUNE_EVERY = 200  # writes between deletions of expired rows
WRITE_WAIT_S = 0.5  # a page the other workers' writes keep out this long is not shared

# A kept answer: status, headers, body, digest, has_form, version stamp, when (wall clock).
Kept = tuple[int, list[tuple[bytes, bytes]], bytes, str, bool, tuple[int, ...], float]


class SharedPages:
    """The pages file of one data folder."""

    def __init__(self, home: Path, max_age_s: float, max_bytes: int) -> None:
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.file = NodeFile(
            home / FILE_NAME,
            "CREATE TABLE IF NOT EXISTS pages (address TEXT PRIMARY KEY, version TEXT NOT NULL, "
            "stored_at REAL NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, "
            "body BLOB NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL, "
            "has_form INTEGER NOT NULL)",
            timeout_s=WRITE_WAIT_S,
        )
        self._writes = 0

    def get(self, address: str, version: tuple[int, ...]) -> Kept | None:
        """The page kept for `address` at this version and within the age limit, if any."""
        connection = self.file.connection()
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT status, headers, body, digest, has_form, stored_at FROM pages "
                "WHERE address = ? AND version = ? AND stored_at >= ?",
                (address, json.dumps(version), time.time() - self.max_age_s),
            ).fetchone()
        except sqlite3.Error as error:
            log.warning("shared pages unreadable (%s): rendering again", error)
            return None
        if row is None:
            return None
        status, headers, body, digest, has_form, stored_at = row
        pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in
                 json.loads(headers)]  # fmt: skip
        return status, pairs, bytes(body), digest, bool(has_form), version, stored_at

    def put(self, address: str, kept: Kept) -> None:
        """Keep a rendered page for the node's other workers."""
        connection = self.file.connection()
        if connection is None:
            return
        status, headers, body, digest, has_form, version, stored_at = kept
        names = json.dumps([(name.decode("latin-1"), value.decode("latin-1"))
                            for name, value in headers])  # fmt: skip
        self._writes += 1
        try:
            with connection:
                connection.execute(
                    "INSERT OR REPLACE INTO pages (address, version, stored_at, status, headers, "
                    "body, size, digest, has_form) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (address, json.dumps(version), stored_at, status, names, body, len(body),
                     digest, int(has_form)),
                )  # fmt: skip
                if self._writes % PRUNE_EVERY == 0:
                    self._prune(connection)
        except sqlite3.Error as error:  # busy past the timeout, read-only, disk full: a cache
            log.warning("page not shared (%s)", error)

    def _prune(self, connection: sqlite3.Connection) -> None:
        """Delete the pages past the age limit, then the oldest beyond the size bound."""
        connection.execute("DELETE FROM pages WHERE stored_at < ?", (time.time() - self.max_age_s,))
        connection.execute(
            "DELETE FROM pages WHERE address IN (SELECT address FROM (SELECT address, "
            "sum(size) OVER (ORDER BY stored_at DESC, address) AS newer FROM pages) "
            "WHERE newer > ?)",
            (self.max_bytes,),
        )
