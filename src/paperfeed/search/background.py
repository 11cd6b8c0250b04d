"""The site's background embedder: a thread that keeps every paper embedded while it serves.

With several web workers only one embeds (the holder of `embedder.lock` in the data folder); it
publishes its state to a file every worker's GET /api/status reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from paperfeed.search.backfill import embed_pending
from paperfeed.search.embedding import (
    Embedder,
    answering_model,
    kind_of,
    load_embedder,
    model_name,
    tier_models,
)
from paperfeed.search.vectors.store import embedding_counts, embedding_status
from paperfeed.settings import Settings
from paperfeed.store.db import Database

log = logging.getLogger(__name__)

FULL_CHECK_EVERY_S = 3600.0  # how often the background embedder looks for changed texts
INDEX_EVERY_S = 300.0  # how often new vectors join the search index during a long backlog
STATUS_EVERY_S = 5.0  # how often the embedding process publishes its state for other workers
STATUS_FILE = "embedder.status.json"  # in the data folder, beside embedder.lock
# The fast tier embeds thousands of papers a second: big batches, few commits.
FAST_BATCH, FAST_COMMIT = 256, 2048
BACKGROUND_NICE = 10  # the embedder thread's niceness on Linux (the web threads keep 0)


@dataclass
class BackgroundState:
    """What the background embedder is doing, for the status page."""

    enabled: bool = False
    running: bool = False  # this process holds the embedder lock and works
    model: str | None = None
    embedded_since_start: int = 0
    papers_per_s: float | None = None
    last_error: str | None = None
    indexed_at: float | None = None  # when new vectors last joined the search index (epoch s)
    pid: int | None = None  # the process doing the work

    def as_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            "running": self.running,
            "pid": self.pid,
            "model": self.model,
            "embedded_since_start": self.embedded_since_start,
            "papers_per_s": None if self.papers_per_s is None else round(self.papers_per_s, 2),
            "last_error": self.last_error,
            "indexed_at": (
                None
                if self.indexed_at is None
                else datetime.fromtimestamp(self.indexed_at, UTC).isoformat(timespec="seconds")
            ),
        }


class _Counter:
    """Progress that counts into the background state, so the status page moves live."""

    def __init__(self, embedder: BackgroundEmbedder) -> None:
        self._embedder = embedder

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        self._embedder.state.embedded_since_start += amount
        self._embedder.publish(every_s=STATUS_EVERY_S)


class BackgroundEmbedder:
    """A daemon thread that keeps every paper embedded while the site runs.

    With several web workers only one embeds: the one holding `embedder.lock` in the data folder.
    Errors are logged and retried after `embed_poll_s`; they never reach the web requests.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[str] | None = None
        self._published_at = float("-inf")
        self.state = BackgroundState(enabled=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="paperfeed-embedder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current chunk and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def publish(self, every_s: float = 0.0) -> None:
        """Write the state where every web worker's GET /api/status finds it (atomically)."""
        now = time.monotonic()
        if now - self._published_at < every_s:
            return
        self._published_at = now
        path = Path(self._settings.home) / STATUS_FILE
        updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        report = {**self.state.as_dict(), "updated_at": updated_at}
        try:
            staging = path.with_suffix(f".{os.getpid()}.tmp")
            staging.write_text(json.dumps(report))
            staging.replace(path)
        except OSError as error:  # the status is a courtesy; never stop embedding for it
            log.warning("could not write %s: %s", path, error)

    def _take_lock(self) -> bool:
        path = Path(self._settings.ensure_home()) / "embedder.lock"
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _run(self) -> None:
        if not self._take_lock():
            log.info("another process embeds papers in the background; this one does not")
            return
        settings = self._settings
        # Requests come first: this thread (and the model's threads it starts) yields the CPU.
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        self.state.running, self.state.pid = True, os.getpid()
        self.publish()
        embedder: Embedder | None = None
        fast: Embedder | None = None  # the fast tier (static vectors for every paper first)
        # Polls look for papers with no vector (one indexed query); finding changed texts means
        # reading every title and abstract, so that pass runs at start and then hourly.
        last_full_check = float("-inf")
        # New vectors reach search when the vector index is rebuilt: when the embedder catches
        # up, and every INDEX_EVERY_S while a long backlog (a first import) is worked through.
        last_indexed, unindexed = time.monotonic(), False
        pass_size = settings.embed_batch_size * 32
        while not self._stop.is_set():
            caught_up = True
            try:
                started = time.monotonic()
                full_check = started - last_full_check >= FULL_CHECK_EVERY_S
                tiers = tier_models(settings)
                if len(tiers) > 1:  # before MiniLM is even loaded (its first load exports it)
                    if fast is None:
                        fast = load_embedder(settings, kind_of(tiers[0]), "cpu", threads=1)
                    if self._fast_pass(fast, missing_only=not full_check):
                        self._update_indexes()  # meaning for every paper now, not in hours
                        last_indexed = time.monotonic()
                if embedder is None:
                    embedder = load_embedder(
                        settings, settings.embedding_model, "cpu", threads=settings.embed_threads
                    )
                    self.state.model = embedder.name
                result = embed_pending(
                    self._db,
                    embedder,
                    settings.embed_batch_size,
                    self._stop,
                    _Counter(self),
                    limit=pass_size,
                    missing_only=not full_check,
                )
                caught_up = result.embedded < pass_size
                if full_check and caught_up and not self._stop.is_set():
                    last_full_check = started
                if result.embedded:
                    unindexed = True
                    self.state.papers_per_s = result.papers_per_s
                    log.info("embedded %d papers in the background", result.embedded)
                if unindexed and (caught_up or time.monotonic() - last_indexed >= INDEX_EVERY_S):
                    self._update_indexes()
                    last_indexed, unindexed = time.monotonic(), False
                self.state.last_error = None
            except Exception as error:  # keep the site up; say what failed and try again later
                log.exception("background embedding failed")
                self.state.last_error = f"{type(error).__name__}: {error}"
            self.publish()
            if caught_up:
                self._stop.wait(settings.embed_poll_s)
        self.state.running = False
        self.publish()

    def _fast_pass(self, fast: Embedder, *, missing_only: bool) -> int:
        """Give every paper without one a vector of the fast tier; how many were embedded."""
        result = embed_pending(
            self._db, fast, FAST_BATCH, self._stop, commit_size=FAST_COMMIT,
            missing_only=missing_only,
        )  # fmt: skip
        if result.embedded:
            log.info("embedded %d papers with %s in the background", result.embedded, fast.name)
        return result.embedded

    def _update_indexes(self) -> None:
        from paperfeed.search.indexer import update_indexes

        update_indexes(self._db, self._settings)
        self.state.indexed_at = time.time()


def status_report(
    db: Database, settings: Settings, background: BackgroundState | None
) -> dict:
    """Papers, vectors per model and the background embedder's state, for GET /api/status.

    With several web workers one of them embeds; the others report the state it publishes.
    """
    configured = model_name(settings)
    with db.sessions() as session:
        counts = embedding_counts(session)
        embedded, total = embedding_status(session, configured)
    tiers = tier_models(settings)
    answering = answering_model(tiers, counts, total) if settings.search_dense else None
    if answering is not None and not counts.get(answering):
        answering = None  # no vectors yet: search works by words alone
    return {
        "papers": total,
        "embedding_model": configured,
        "embedded": embedded,
        "embeddings": counts,
        # The vectors search by meaning answers from: the fast tier's until the configured
        # model covers every paper (after the index catches up, at most INDEX_EVERY_S later).
        "search_model": answering,
        "search_tiers": tiers if settings.search_dense else [],
        "background_embedder": _background_report(settings, background),
    }


def _background_report(settings: Settings, background: BackgroundState | None) -> dict | None:
    if background is None or background.running:
        return background.as_dict() if background is not None else None
    published = Path(settings.home) / STATUS_FILE
    try:
        return json.loads(published.read_text())
    except (OSError, ValueError):  # nobody embeds yet, or the file is being replaced
        return background.as_dict()
