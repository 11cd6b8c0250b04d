"""Stored paper vectors: which papers need (re-)embedding, saving vectors, reading them back fast.

A vector is current while the SHA-256 of the paper's embedded text (`embedding.paper_text`) equals
the stored `text_hash`; a changed title or abstract, or another model name, makes it pending.
Vectors are float32 little-endian bytes; readers get numpy matrices, streamed in chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from paperfeed.core.clock import utcnow
from paperfeed.search.embedding import paper_text, text_hash
from paperfeed.store.dialect import insert
from paperfeed.store.models import PaperEmbeddingRow, PaperRow

_FLOAT32 = np.dtype("<f4")
_SCAN_PAGE = 2000  # papers read per query while looking for pending ones
_READ_CHUNK = 20000  # vectors decoded per chunk while streaming


@dataclass(frozen=True)
class PendingPaper:
    """A paper whose vector under some model is missing or was made from other text."""

    paper_id: str
    text: str
    text_hash: str
    stale: bool = False  # a vector of older text is stored and must be replaced


def papers_needing_embedding(
    session: Session,
    model: str,
    limit: int,
    *,
    after: str | None = None,
    missing_only: bool = False,
) -> list[PendingPaper]:
    """Up to `limit` papers, in id order after `after`, with no current vector for `model`.

    Pass the last id returned as `after` to walk the whole table once (a backfill). With
    `missing_only`, papers that have a vector of older text are skipped: a cheap indexed query
    for frequent polling, where the full check reads every title and abstract.
    """
    if limit <= 0:
        return []
    this_model = and_(PaperEmbeddingRow.paper_id == PaperRow.id, PaperEmbeddingRow.model == model)
    query = (
        select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperEmbeddingRow.text_hash)
        .outerjoin(PaperEmbeddingRow, this_model)
        .order_by(PaperRow.id)
    )
    if missing_only:
        query = query.where(PaperEmbeddingRow.paper_id.is_(None))
    found: list[PendingPaper] = []
    cursor = after
    while len(found) < limit:
        page_size = limit - len(found) if missing_only else max(_SCAN_PAGE, limit)
        page_query = query if cursor is None else query.where(PaperRow.id > cursor)
        rows = session.execute(page_query.limit(page_size)).all()
        for paper_id, title, abstract, stored_hash in rows:
            text = paper_text(title, abstract)
            digest = text_hash(text)
            if digest != stored_hash:
                found.append(PendingPaper(paper_id, text, digest, stored_hash is not None))
                if len(found) == limit:
                    break
        if len(rows) < page_size:
            break
        cursor = rows[-1][0]
    return found


def save_embeddings(
    session: Session,
    model: str,
    rows: Iterable[tuple[str, str, np.ndarray]],
    *,
    replacing: Collection[str] | None = None,
) -> int:
    """Store (paper_id, text_hash, vector) rows for `model`, replacing older vectors; the count.

    `replacing` names the papers that may already have a vector (default: any of them), so a
    backfill of new papers skips the deletes. Runs in the caller's transaction, so a batch of
    vectors commits whole or not at all.
    """
    now = utcnow()
    values = []
    for paper_id, digest, vector in rows:
        array = np.asarray(vector, dtype=_FLOAT32).reshape(-1)
        values.append(
            {
                "model": model,
                "paper_id": paper_id,
                "text_hash": digest,
                "dim": int(array.shape[0]),
                "vector": array.tobytes(),
                "created_at": now,
            }
        )
    if not values:
        return 0
    ids = [value["paper_id"] for value in values] if replacing is None else list(replacing)
    for start in range(0, len(ids), 500):  # bound the IN list for every backend
        session.execute(
            delete(PaperEmbeddingRow).where(
                PaperEmbeddingRow.model == model,
                PaperEmbeddingRow.paper_id.in_(ids[start : start + 500]),
            )
        )
    # A Core executemany: the ORM's bulk path costs about as much again per row. An upsert,
    # because another embedder (`paperfeed embed` beside the site's) may have stored the paper
    # since it was found pending.
    statement = insert(session, PaperEmbeddingRow.__table__)
    replace = {c: statement.excluded[c] for c in ("text_hash", "dim", "vector", "created_at")}
    session.execute(
        statement.on_conflict_do_update(index_elements=["model", "paper_id"], set_=replace), values
    )
    return len(values)


def _decode(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype=_FLOAT32).reshape(len(blobs), dim)


def iter_vectors(
    session: Session,
    model: str,
    *,
    since: datetime | None = None,
    chunk: int = _READ_CHUNK,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Stream `model`'s vectors as (paper_ids, float32 matrix) chunks in paper-id order.

    `since` keeps vectors written at or after that time, for incremental indexing.
    """
    query = (
        select(PaperEmbeddingRow.paper_id, PaperEmbeddingRow.dim, PaperEmbeddingRow.vector)
        .where(PaperEmbeddingRow.model == model)
        .order_by(PaperEmbeddingRow.paper_id)
        .execution_options(yield_per=chunk)
    )
    if since is not None:
        query = query.where(PaperEmbeddingRow.created_at >= since)
    for partition in session.execute(query).partitions(chunk):
        dim = partition[0][1]
        yield [row[0] for row in partition], _decode([row[2] for row in partition], dim)


def load_vectors(session: Session, model: str) -> tuple[list[str], np.ndarray]:
    """All of `model`'s vectors: paper ids and a (n, dim) float32 matrix, rows in id order.

    The matrix is allocated once from the row count and filled chunk by chunk, so reading
    millions of vectors needs little memory beyond the matrix itself.
    """
    expected, dim = session.execute(
        select(func.count(), func.max(PaperEmbeddingRow.dim)).where(
            PaperEmbeddingRow.model == model
        )
    ).one()
    if not expected:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.empty((expected, dim), dtype=np.float32)
    ids: list[str] = []
    extra: list[np.ndarray] = []  # rows written after the count was taken
    for chunk_ids, vectors in iter_vectors(session, model):
        start = len(ids)
        room = max(0, min(len(chunk_ids), expected - start))
        matrix[start : start + room] = vectors[:room]
        if room < len(chunk_ids):
            extra.append(vectors[room:])
        ids.extend(chunk_ids)
    if extra:
        matrix = np.concatenate([matrix, *extra])
    return ids, matrix[: len(ids)]


def vectors_for(
    session: Session, model: str, paper_ids: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The stored vectors of these papers (those that have one), in the order asked."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(paper_ids))
    for start in range(0, len(unique), 500):
        rows = session.execute(
            select(PaperEmbeddingRow.paper_id, PaperEmbeddingRow.dim, PaperEmbeddingRow.vector)
            .where(PaperEmbeddingRow.model == model)
            .where(PaperEmbeddingRow.paper_id.in_(unique[start : start + 500]))
        ).all()
        for paper_id, dim, blob in rows:
            found[paper_id] = np.frombuffer(blob, dtype=_FLOAT32).reshape(dim)
    ids = [paper_id for paper_id in unique if paper_id in found]
    if not ids:
        return [], np.zeros((0, 0), dtype=np.float32)
    return ids, np.stack([found[paper_id] for paper_id in ids])


def embedding_status(session: Session, model: str) -> tuple[int, int]:
    """(papers with a vector under `model`, papers in all); stale vectors count as embedded."""
    embedded = session.scalar(
        select(func.count()).select_from(PaperEmbeddingRow).where(PaperEmbeddingRow.model == model)
    )
    total = session.scalar(select(func.count()).select_from(PaperRow))
    return int(embedded or 0), int(total or 0)


def embedding_counts(session: Session) -> dict[str, int]:
    """Vectors stored per model name (every model ever used, current or not)."""
    rows = session.execute(
        select(PaperEmbeddingRow.model, func.count()).group_by(PaperEmbeddingRow.model)
    ).all()
    return {model: int(count) for model, count in rows}


def embedding_marker(session: Session, model: str) -> str:
    """A token that changes whenever a vector of `model` is added, replaced or deleted.

    Index builders compare it with the one they last built from to skip needless rebuilds.
    """
    count, newest = session.execute(
        select(func.count(), func.max(PaperEmbeddingRow.created_at)).where(
            PaperEmbeddingRow.model == model
        )
    ).one()
    return f"{count}:{newest.isoformat() if newest else '-'}"
