"""Keeps the search indexes in step with the store: full builds, incremental updates, atomic swaps.

Layout under the home: index/lexical is a symlink to the live tantivy generation
(index/lexical.<n>); index/vectors/<model> likewise points at index/vectors/<model>.<n>. A rebuild
writes a new generation beside the live one and swaps the link with one rename, so a reader sees
the old index or the new one, never half of either. Incremental lexical updates replay the
store's outbox (search_changes) through tantivy, whose commits are atomic, and delete the outbox
rows only after the commit: a crash at any point leaves work to redo, never an index out of step.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select

from paperfeed.core.progress import ProgressSink
from paperfeed.search import lexical
from paperfeed.search.embedding import dense_model, tier_models
from paperfeed.search.vectors import ann as vectors
from paperfeed.search.vectors import store as vectors_store
from paperfeed.settings import Settings
from paperfeed.store import site_version
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow, SearchChangeRow
from paperfeed.store.reader import load_papers

BATCH = 2_000  # papers per tantivy commit in incremental updates and per read in full builds


@dataclass
class IndexReport:
    """What an index run did."""

    lexical_rebuilt: bool = False
    lexical_updated: int = 0
    lexical_total: int = 0
    vectors_rebuilt: bool = False
    vectors_total: int = 0
    vector_model: str | None = None
    seconds: float = 0.0


def index_dir(settings: Settings) -> Path:
    return settings.home / "index"


def lexical_path(settings: Settings) -> Path:
    """The live lexical index (a symlink to its current generation)."""
    return index_dir(settings) / "lexical"


def vectors_path(settings: Settings, model: str) -> Path:
    """The live vector index of a model (a symlink to its current generation)."""
    return index_dir(settings) / "vectors" / _slug(model)


def update_indexes(
    db: Database,
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: ProgressSink | None = None,
) -> IndexReport:
    """Bring both indexes up to date with the store; `rebuild` builds them again from scratch.

    With the job queue (several nodes may share the store) the indexes are this folder's replica,
    which follows the change log without consuming it (search/replica.py).
    """
    if settings.uses_job_queue:
        from paperfeed.search import replica

        return replica.refresh(db, settings, rebuild=rebuild, progress=progress)
    started = time.perf_counter()
    report = IndexReport()
    with _exclusive(index_dir(settings)):
        path = lexical_path(settings)
        _remove_unfinished(path)
        if rebuild or not path.exists() or not lexical.schema_matches(path.resolve()):
            # Outbox rows committed before the build reads the papers are covered by it.
            covered = _outbox_ids(db)
            _swap_in(path, _build_lexical(db, path, progress))
            _delete_outbox(db, covered)
            report.lexical_rebuilt = True
        report.lexical_updated = _apply_changes(db, path, progress)
        report.lexical_total = lexical.open_index(path.resolve()).searcher().num_docs
        _update_vectors(db, settings, report, rebuild=rebuild, progress=progress)
        _remove_old_generations(path)
    report.seconds = time.perf_counter() - started
    return report


def pending_changes(db: Database) -> int:
    """Changes in the store the lexical index has not caught up with."""
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(SearchChangeRow)) or 0


def _build_lexical(db: Database, live: Path, progress: ProgressSink | None) -> Path:
    """A complete lexical index of every stored paper, in a new generation directory."""
    with _new_generation(live) as target:
        _write_lexical(db, target, progress)
    return target


def _write_lexical(db: Database, target: Path, progress: ProgressSink | None) -> None:
    index = lexical.open_index(target)
    writer = index.writer(lexical.WRITER_HEAP, 1)
    with db.sessions() as session:
        total = session.scalar(select(func.count()).select_from(PaperRow)) or 0
        if progress:
            progress.start("indexing papers (BM25)", total)
        last = ""
        while True:
            ids = list(
                session.scalars(
                    select(PaperRow.id).where(PaperRow.id > last).order_by(PaperRow.id).limit(BATCH)
                )
            )
            if not ids:
                break
            papers = load_papers(session, ids)
            for paper_id in ids:
                writer.add_document(lexical.document(papers[paper_id]))
            last = ids[-1]
            if progress:
                progress.advance(len(ids))
    writer.commit()
    writer.wait_merging_threads()


def _apply_changes(db: Database, live: Path, progress: ProgressSink | None) -> int:
    """Replay the outbox into the live lexical index, one committed batch at a time."""
    pending = pending_changes(db)
    if not pending:
        return 0
    if progress:
        progress.start("updating the search index", pending)
    index = lexical.open_index(live.resolve())
    writer = index.writer(lexical.WRITER_HEAP, 1)
    updated = 0
    after = 0
    while True:
        with db.sessions() as session:
            # The rows are read before the papers: every change they record is in what we read.
            rows = session.execute(
                select(SearchChangeRow.id, SearchChangeRow.paper_id)
                .where(SearchChangeRow.id > after)
                .order_by(SearchChangeRow.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            ids = list(dict.fromkeys(paper_id for _, paper_id in rows))
            papers = load_papers(session, ids)
        for paper_id in ids:
            writer.delete_documents_by_term("id", paper_id)
            if paper_id in papers:  # a paper deleted from the store leaves the index too
                writer.add_document(lexical.document(papers[paper_id]))
        writer.commit()
        _delete_outbox(db, [seq for seq, _ in rows])  # only what was read: later ones stay
        after = rows[-1][0]
        updated += len(ids)
        if progress:
            progress.advance(len(rows))
    writer.wait_merging_threads()
    return updated


def _outbox_ids(db: Database) -> list[int]:
    with db.sessions() as session:
        return list(session.scalars(select(SearchChangeRow.id)))


def _delete_outbox(db: Database, seqs: list[int]) -> None:
    for start in range(0, len(seqs), 500):
        with db.transaction() as session:
            chunk = seqs[start : start + 500]
            session.execute(delete(SearchChangeRow).where(SearchChangeRow.id.in_(chunk)))


def _update_vectors(
    db: Database,
    settings: Settings,
    report: IndexReport,
    *,
    rebuild: bool,
    progress: ProgressSink | None,
) -> None:
    """Rebuild each embedded model's vector index whose stored embeddings changed since its last
    build (the fast tier's and the configured model's; see embedding.tier_models)."""
    if dense_model(settings) is None:
        return
    for model in tier_models(settings):
        report.vector_model = model  # the last is the configured model
        report.vectors_total = _update_model_vectors(db, settings, model, report, rebuild, progress)


def _update_model_vectors(
    db: Database,
    settings: Settings,
    model: str,
    report: IndexReport,
    rebuild: bool,
    progress: ProgressSink | None,
) -> int:
    path = vectors_path(settings, model)
    with db.sessions() as session:
        marker = vectors_store.embedding_marker(session, model)
    current = vectors.load(path) if path.exists() else None
    if current is not None and current.marker == marker and not rebuild:
        return len(current)
    if progress:
        progress.start(f"indexing vectors ({model})", None)
    with db.sessions() as session:
        ids, matrix = vectors_store.load_vectors(session, model)
    keys = [lexical.paper_key(paper_id) for paper_id in ids]
    _remove_unfinished(path)
    with _new_generation(path) as target:
        vectors.build(target, model, ids, keys, matrix, marker)
    _swap_in(path, target)
    _remove_old_generations(path)
    with db.transaction() as session:  # pages that rank by meaning change: caches start again
        site_version.raise_site(session)
    report.vectors_rebuilt = True
    return len(ids)


@contextmanager
def _new_generation(live: Path) -> Iterator[Path]:
    """The folder of a new generation beside `live`, removed if building it fails (a full disk,
    EFBIG, any error): the live index is untouched and nothing half-built is left behind."""
    live.parent.mkdir(parents=True, exist_ok=True)
    target = live.parent / f"{live.name}.{time.time_ns()}"
    try:
        yield target
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _remove_unfinished(live: Path) -> None:
    """Delete generations newer than the live one: left by a build that died before its swap
    (killed, or the machine went down). Runs under the writer lock, so none is being built."""
    if not live.exists():
        return
    current = _generation_time(live.resolve())
    for candidate in live.parent.glob(f"{live.name}.*"):
        if candidate.is_dir() and _generation_time(candidate) > current:
            shutil.rmtree(candidate, ignore_errors=True)


def _swap_in(live: Path, target: Path) -> None:
    """Point the `live` symlink at `target` in one atomic rename."""
    link = live.parent / f".{live.name}.link-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, live)


def _remove_old_generations(live: Path) -> None:
    """Delete generations older than the live one and the one it just replaced.

    The replaced one stays until the next swap: a reader that resolved the link a moment before
    the swap may still be opening it (open readers keep their mapped files either way).
    """
    current = live.resolve().name if live.exists() else None
    older = sorted(
        (c for c in live.parent.glob(f"{live.name}.*") if c.is_dir() and c.name != current),
        key=_generation_time,
    )
    for candidate in older[:-1]:
        shutil.rmtree(candidate, ignore_errors=True)


def _generation_time(generation: Path) -> int:
    """The nanosecond timestamp that names a generation (see _new_generation)."""
    suffix = generation.name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One index writer at a time (another `paperfeed index` waits for this one)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _slug(model: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
