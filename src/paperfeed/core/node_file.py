"""A SQLite file that a node's processes share as a cache: a connection a thread, WAL, soft errors.

Caches kept beside the data (rendered pages, similar-paper rankings) are read and written by
every worker of the node. A cache that cannot be opened or written costs only the work again,
so callers get None (or nothing kept) and one warning, never an error.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class NodeFile:
    """The SQLite file `path`, its table made by `schema` on first use; a write waits at most
    `timeout_s` for another process's (a cache write that waits longer is dropped)."""

    def __init__(self, path: Path, schema: str, timeout_s: float = 5.0) -> None:
        self.path = path
        self.schema = schema
        self.timeout_s = timeout_s
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection | None:
        """This thread's connection (None: the file cannot be used here)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        if not self.path.parent.is_dir():
            return None
        try:
            connection = sqlite3.connect(self.path, timeout=self.timeout_s)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            with connection:
                connection.execute(self.schema)
        except sqlite3.Error as error:
            log.warning("cache file %s unusable (%s)", self.path, error)
            return None
        self._local.connection = connection
        return connection
