"""The site's background embedder: a child process that keeps every paper embedded while it serves.

A process, not a thread of the web worker: a thread shared the interpreter lock with the
requests, and every handover cost a page up to the 5 ms switch interval. With several web
workers only one child embeds (the holder of `embedder.lock` in the data folder); it publishes
its state to a file every worker's GET /api/status reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from paperfeed.search.backfill import embed_pending
from paperfeed.search.embedding import (
    Embedder,
    answering_model,
    default_commit_size,
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
BACKGROUND_NICE = 10  # how much nicer the embedding process is than the web worker (Linux)


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

    def __init__(self, loop: _EmbeddingLoop) -> None:
        self._loop = loop

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        self._loop.state.embedded_since_start += amount
        self._loop.publish(every_s=STATUS_EVERY_S)


class BackgroundEmbedder:
    """Starts and stops the child process that keeps every paper embedded while the site runs.

    With several web workers only one child embeds: the one holding `embedder.lock` in the data
    folder. Errors are logged and retried after `embed_poll_s`; they never reach the web requests.
    `state` is this worker's view; the child publishes the real one (see status_report).
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._settings = settings
        self._process: Any = None  # multiprocessing's spawn Process
        self.state = BackgroundState(enabled=True)

    @property
    def pid(self) -> int | None:
        """The embedding child's process id, while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        # spawn, not fork: the web worker has threads and open database connections.
        self._process = multiprocessing.get_context("spawn").Process(
            target=_embed_in_child,
            args=(self._settings, os.getpid()),
            name="paperfeed-embedder",
            daemon=True,
        )
        self._process.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop after its current chunk (SIGTERM) and wait for it; a chunk still
        in hand after `timeout` is dropped (it is embedded again next time)."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = None


def embedder_niceness(web: int) -> int:
    """The niceness of the embedding process beside a web worker of niceness `web`."""
    return min(19, web + BACKGROUND_NICE)


def _embed_in_child(settings: Settings, parent: int) -> None:
    """The embedding process: niced, logging like the site, ended with its web worker.

    SIGTERM (BackgroundEmbedder.stop) ends it after the chunk in hand. (A multiprocessing Event
    shared with the parent deadlocked the parent's `set()` when the child had exited while a
    thread of it waited on the event.)
    """
    from paperfeed.logs import configure

    configure(settings.log_level)
    # Requests come first: this process (and the threads it starts) is BACKGROUND_NICE nicer
    # than the web worker it was spawned from (at most 19).
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, 0, embedder_niceness(os.getpriority(os.PRIO_PROCESS, 0)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    # Ctrl+C reaches the whole process group: the web worker stops this process (SIGTERM) as
    # it shuts down, rather than a KeyboardInterrupt traceback here mid-chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch_parent() -> None:  # a killed web worker leaves no embedder behind
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    db = Database(settings.database_url, migrate=False)
    try:
        _EmbeddingLoop(db, settings, stop).run()
    finally:
        db.close()


class _EmbeddingLoop:
    """The embedding process's work: the fast tier for every paper, then the configured model."""

    def __init__(self, db: Database, settings: Settings, stop: threading.Event) -> None:
        self._db = db
        self._settings = settings
        self._stop = stop
        self._lock_file: IO[str] | None = None
        self._published_at = float("-inf")
        self.state = BackgroundState(enabled=True)

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

    def run(self) -> None:
        if not self._take_lock():
            log.info("another process embeds papers in the background; this one does not")
            return
        try:
            self._work()
        finally:
            self.state.running = False
            self.publish()
            if self._lock_file is not None:
                self._lock_file.close()

    def _work(self) -> None:
        settings = self._settings
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
        batch_size = settings.embed_batch_size
        # Several batches a committed chunk: the chunk is sorted by length before it is cut
        # into batches, so a batch pads its texts to a similar length.
        commit_size = default_commit_size("cpu", batch_size)
        pass_size = max(batch_size * 32, commit_size)
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
                    batch_size,
                    self._stop,
                    _Counter(self),
                    commit_size=commit_size,
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
        report = json.loads(published.read_text())
    except (OSError, ValueError):  # nobody embeds yet, or the file is being replaced
        return background.as_dict()
    if isinstance(report, dict) and report.get("running") and not _alive(report.get("pid")):
        report["running"] = False  # left by a process that was killed: nobody embeds now
    return report


def _alive(pid: object) -> bool:
    """Whether a process of this host has this id (the embedder runs beside its data folder)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
