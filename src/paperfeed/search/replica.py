"""A node's search indexes as a replica of the database: built when missing, then kept in step.

With several nodes every node reads the same change log (`search_changes`), so no node may consume
it: each keeps its own cursor in `index/replica.json` (the highest change id it is done with, and
the ids it applied lately). A change id becomes "done" once it has been seen for OVERLAP_S: until
then the rows just below it are read again, so a writer that took a lower id but committed later
(PostgreSQL hands ids out at INSERT, not at COMMIT) is still picked up. Re-applying a change is
harmless (delete by id, add again), and the ids applied lately are skipped anyway.

The job queue's index task (`prune_changes`) deletes changes older than KEEP_CHANGES_S; a node
whose cursor is older than what was pruned (it was down for a day) rebuilds its replica.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select

from paperfeed.core.progress import ProgressSink
from paperfeed.search import lexical
from paperfeed.search.indexer import (
    BATCH,
    IndexReport,
    _build_lexical,
    _exclusive,
    _remove_old_generations,
    _swap_in,
    _update_vectors,
    index_dir,
    lexical_path,
)
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.models import SearchChangeRow
from paperfeed.store.reader import load_papers
from paperfeed.store.writer import read_checkpoint, write_checkpoint

log = logging.getLogger(__name__)

STATE_FILE = "replica.json"  # in index/
OVERLAP_S = 120.0  # how long a writer may hold a change id before committing it
KEEP_CHANGES_S = 86_400.0  # changes are kept a day for nodes that were down
PRUNED_KEY = "search:changes_pruned_to"  # checkpoint: the highest change id deleted
MARKS_KEY = "search:changes_marks"  # checkpoint: (epoch s, highest id then) of earlier prunes


@dataclass
class Cursor:
    """How far this node's lexical replica follows the change log."""

    floor: int = 0  # every change id up to here is in the index
    recent: dict[int, float] = field(default_factory=dict)  # id above floor -> when applied
    vectors_at: float = 0.0  # when the vector indexes were last compared with the store


def refresh(
    db: Database,
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: ProgressSink | None = None,
) -> IndexReport:
    """Bring this node's replica up to date: build it when missing, else apply new changes."""
    started = time.perf_counter()
    report = IndexReport()
    with _exclusive(index_dir(settings)):
        path = lexical_path(settings)
        cursor = _load(settings)
        with db.sessions() as session:
            pruned = int((read_checkpoint(session, PRUNED_KEY) or {}).get("id", 0))
        stale = cursor is None or pruned > cursor.floor
        if rebuild or stale or not path.exists() or not lexical.schema_matches(path.resolve()):
            with db.sessions() as session:  # read before the papers: later ones are replayed
                top = session.scalar(select(func.max(SearchChangeRow.id))) or 0
            _swap_in(path, _build_lexical(db, path, progress))
            cursor = Cursor(floor=top)
            report.lexical_rebuilt = True
        assert cursor is not None
        report.lexical_updated = _follow(db, path, cursor)
        report.lexical_total = lexical.open_index(path.resolve()).searcher().num_docs
        now = time.time()
        if report.lexical_rebuilt or now - cursor.vectors_at >= settings.replica_vectors_every_s:
            _update_vectors(db, settings, report, rebuild=rebuild, progress=progress)
            cursor.vectors_at = now
        _remove_old_generations(path)
        _save(settings, cursor)
    report.seconds = time.perf_counter() - started
    return report


def _follow(db: Database, live: Path, cursor: Cursor) -> int:
    """Apply the changes above the cursor not applied yet; move the cursor; papers updated."""
    writer = None
    updated = 0
    after = cursor.floor
    now = time.time()
    while True:
        with db.sessions() as session:
            rows = session.execute(
                select(SearchChangeRow.id, SearchChangeRow.paper_id)
                .where(SearchChangeRow.id > after)
                .order_by(SearchChangeRow.id)
                .limit(BATCH)
            ).all()
            fresh = [(seq, paper_id) for seq, paper_id in rows if seq not in cursor.recent]
            ids = list(dict.fromkeys(paper_id for _, paper_id in fresh))
            papers = load_papers(session, ids) if ids else {}
        if not rows:
            break
        after = rows[-1][0]
        if not fresh:
            continue
        if writer is None:
            writer = lexical.open_index(live.resolve()).writer(lexical.WRITER_HEAP, 1)
        for paper_id in ids:
            writer.delete_documents_by_term("id", paper_id)
            if paper_id in papers:  # a paper deleted from the store leaves the index too
                writer.add_document(lexical.document(papers[paper_id]))
        writer.commit()
        cursor.recent.update((seq, now) for seq, _ in fresh)
        updated += len(ids)
    if writer is not None:
        writer.wait_merging_threads()
    settled = [seq for seq, seen in cursor.recent.items() if now - seen >= OVERLAP_S]
    if settled:
        cursor.floor = max(cursor.floor, *settled)
        cursor.recent = {seq: t for seq, t in cursor.recent.items() if seq > cursor.floor}
    return updated


def _state_path(settings: Settings) -> Path:
    return index_dir(settings) / STATE_FILE


def _load(settings: Settings) -> Cursor | None:
    try:
        raw = json.loads(_state_path(settings).read_text())
        return Cursor(
            floor=int(raw["floor"]),
            recent={int(seq): float(seen) for seq, seen in raw["recent"].items()},
            vectors_at=float(raw.get("vectors_at", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no replica yet (or a damaged cursor): build it


def _save(settings: Settings, cursor: Cursor) -> None:
    path = _state_path(settings)
    staging = path.with_suffix(".tmp")
    payload = {"floor": cursor.floor, "recent": cursor.recent, "vectors_at": cursor.vectors_at}
    staging.write_text(json.dumps(payload))
    staging.replace(path)


def prune_changes(db: Database, now: float | None = None) -> int:
    """Delete changes older than KEEP_CHANGES_S (every node has read them); how many."""
    now = time.time() if now is None else now
    with db.transaction() as session:
        top = session.scalar(select(func.max(SearchChangeRow.id))) or 0
        marks = [tuple(m) for m in (read_checkpoint(session, MARKS_KEY) or {}).get("marks", [])]
        marks.append((now, top))
        due = [mark for mark in marks if now - mark[0] >= KEEP_CHANGES_S]
        deleted = 0
        if due:
            cut = int(max(mark[1] for mark in due))
            result = session.execute(delete(SearchChangeRow).where(SearchChangeRow.id <= cut))
            deleted = int(getattr(result, "rowcount", 0) or 0)
            write_checkpoint(session, PRUNED_KEY, {"id": cut})
            marks = [mark for mark in marks if now - mark[0] < KEEP_CHANGES_S]
        write_checkpoint(session, MARKS_KEY, {"marks": [list(mark) for mark in marks[-48:]]})
    return deleted


class Follower:
    """A light thread of a web node that keeps its replica following the database.

    A node-local cache refresher, not background work: it only reads the store and writes this
    node's index folder. Errors are logged and retried at the next poll.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="search-replica", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = refresh(self._db, self._settings)
                if report.lexical_rebuilt or report.lexical_updated or report.vectors_rebuilt:
                    log.info(
                        "search replica: %d papers updated%s%s",
                        report.lexical_updated,
                        ", rebuilt" if report.lexical_rebuilt else "",
                        ", vectors rebuilt" if report.vectors_rebuilt else "",
                    )
            except Exception:  # the site keeps serving the last good replica
                log.exception("search replica refresh failed")
            self._stop.wait(self._settings.replica_poll_s)
