"""Embeds pending papers on a Ray cluster with Ray Data (`paperfeed embed --engine ray`).

The pipeline, one block of papers (consecutive ids) at a time, every stage running at once:

1. read + tokenize (CPU tasks): a block's ids, title/abstract and stored text hash from the
   database; the papers with no current vector, tokenized and sorted by token count;
2. embed (an actor pool: one model per GPU, or CPU actors where the cluster has no GPU):
   padded batches sized to the card, fp16 on a GPU, fp32 on a CPU;
3. write (CPU tasks): the block's vectors in one transaction (COPY into a staging table, then
   an upsert, on PostgreSQL; one executemany on SQLite).

A block's vectors commit together or not at all, and a paper is pending until its vector is
committed, so a killed run started again redoes only the blocks it had in hand, and the key
(model, paper_id) keeps every paper to one vector. The driver reads only ids.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperfeed.core.errors import Unavailable
from paperfeed.search.backfill import BackfillResult

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Engine

    from paperfeed.core.progress import ProgressSink

log = logging.getLogger(__name__)

# Papers per block (the unit read, tokenized, embedded and committed) and texts per model
# batch inside a block: large on a GPU (the card wants big batches, a commit costs ~ms),
# small on a CPU (a killed run loses less, and progress moves).
BLOCK = {"cuda": 8192, "cpu": 256}
BATCH = {"cuda": 1024, "cpu": 32}


@dataclass(frozen=True)
class RayPlan:
    """How one run spreads over the cluster."""

    database_url: str
    model: str
    device: str  # "cuda" (GPU actors) or "cpu" (CPU actors)
    actors: int
    block_size: int
    batch_size: int
    cpus_per_actor: float = 1.0


class RayUnavailable(Unavailable):
    """Ray is not installed, or the cluster cannot be reached."""


def absolute_url(database_url: str) -> str:
    """The URL with a SQLite file's path made absolute, so workers elsewhere find the file."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=False)


def connect(address: str | None) -> Any:
    """ray, initialised: a local cluster on this machine, or the one at `address`."""
    try:
        import ray
    except ImportError as error:
        raise RayUnavailable('--engine ray needs Ray: pip install "ray[data]"') from error
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
                include_dashboard=False,
                runtime_env={"env_vars": _worker_env()},
            )
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {error}") from error
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # quiet unless asked
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command draws its own
    context.print_on_execution_start = False
    return ray


def _worker_env() -> dict[str, str]:
    # One Ray task a core is the parallelism: the tokenizer must not start a thread a core too.
    env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def plan(
    ray: Any,
    database_url: str,
    model: str,
    *,
    actors: int | None = None,
    block_size: int | None = None,
    batch_size: int | None = None,
) -> RayPlan:
    """One actor per GPU of the cluster; without GPUs, CPU actors on half the cluster's cores."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    device = "cuda" if gpus else "cpu"
    count = actors or (gpus if gpus else max(1, cpus // 2))
    return RayPlan(
        database_url=database_url,
        model=model,
        device=device,
        actors=count,
        block_size=block_size or BLOCK[device],
        batch_size=batch_size or BATCH[device],
    )


def block_ranges(engine: Engine, block_size: int) -> list[tuple[str, str]]:
    """(first id, last id) of consecutive blocks of `block_size` papers, in id order."""
    from sqlalchemy import text

    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM papers ORDER BY id")).scalars().all()
    return [
        (ids[start], ids[min(start + block_size, len(ids)) - 1])
        for start in range(0, len(ids), block_size)
    ]


@lru_cache(maxsize=2)
def _engine(database_url: str) -> Engine:
    """One connection pool per worker process."""
    from paperfeed.store.db import make_engine

    return make_engine(database_url)


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.tokens import load_tokenizer

    return load_tokenizer(shipped_model_dir())


_PENDING_SQL = """
SELECT p.id, p.title, p.abstract, e.text_hash
FROM papers p LEFT JOIN paper_embeddings e ON e.paper_id = p.id AND e.model = :model
WHERE p.id >= :first AND p.id <= :last
ORDER BY p.id
"""


def read_and_tokenize(ranges: dict[str, np.ndarray], database_url: str, model: str) -> pa.Table:
    """Ray task: the pending papers of the blocks in `ranges`, tokenized, longest first."""
    import pyarrow as pa
    from sqlalchemy import text

    from paperfeed.search.embedding import paper_text, text_hash
    from paperfeed.search.embedding.tokens import encode_batch

    ids: list[str] = []
    hashes: list[str] = []
    texts: list[str] = []
    with _engine(database_url).connect() as connection:
        for first, last in zip(ranges["first"], ranges["last"], strict=True):
            rows = connection.execute(
                text(_PENDING_SQL), {"model": model, "first": str(first), "last": str(last)}
            )
            for paper_id, title, abstract, stored in rows:
                body = paper_text(title, abstract)
                digest = text_hash(body)
                if digest != stored:
                    ids.append(paper_id)
                    hashes.append(digest)
                    texts.append(body)
    encodings = encode_batch(_tokenizer(), texts) if texts else []
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int32, count=len(texts))
    order = np.argsort(-lengths, kind="stable")
    values = (
        np.concatenate([np.asarray(encodings[i].ids, dtype=np.int32) for i in order])
        if texts
        else np.zeros(0, dtype=np.int32)
    )
    offsets = np.concatenate([[0], np.cumsum(lengths[order])]).astype(np.int32)
    return pa.table(
        {
            "paper_id": pa.array([ids[i] for i in order], pa.string()),
            "text_hash": pa.array([hashes[i] for i in order], pa.string()),
            "tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
        }
    )


def padded_batches(tokens: pa.ListArray, batch_size: int) -> list[np.ndarray]:
    """Consecutive rows of a list<int32> column as int64 (rows, width) arrays padded with 0
    to a multiple of 8 (the rows come longest first, so each batch pads little)."""
    if len(tokens) == 0:
        return []
    offsets = tokens.offsets.to_numpy()
    values = tokens.flatten().to_numpy()
    base = offsets[0]
    batches = []
    for start in range(0, len(tokens), batch_size):
        stop = min(start + batch_size, len(tokens))
        lengths = np.diff(offsets[start : stop + 1])
        width = max(8, -(-int(lengths.max()) // 8) * 8)
        ids = np.zeros((stop - start, width), dtype=np.int64)
        ids[np.arange(width) < lengths[:, None]] = values[
            offsets[start] - base : offsets[stop] - base
        ]
        batches.append(ids)
    return batches


class EmbedActor:
    """Ray actor: one all-MiniLM-L6-v2 on its GPU (fp16) or CPU (fp32), embedding token blocks."""

    def __init__(self, device: str, batch_size: int, threads: int = 1) -> None:
        import torch

        from paperfeed.search.embedding.build import shipped_model_dir
        from paperfeed.search.embedding.gpu import TorchMiniLM

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        self._model = TorchMiniLM(shipped_model_dir(), device=device, tokenizer_processes=False)
        self._batch_size = batch_size

    def __call__(self, block: pa.Table) -> pa.Table:
        import pyarrow as pa

        tokens = block.column("tokens").combine_chunks()
        lengths = np.diff(tokens.offsets.to_numpy())
        if len(lengths) > 1 and np.any(np.diff(lengths) > 0):  # blocks joined: sort again
            block = block.take(np.argsort(-lengths, kind="stable"))
            tokens = block.column("tokens").combine_chunks()
        vectors = self._model.embed_tokens(padded_batches(tokens, self._batch_size))
        flat = pa.array(vectors.astype("<f4", copy=False).reshape(-1))
        return pa.table(
            {
                "paper_id": block.column("paper_id"),
                "text_hash": block.column("text_hash"),
                "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )


def write_block(block: pa.Table, database_url: str, model: str) -> pa.Table:
    """Ray task: store a block's vectors in one transaction; returns how many."""
    import pyarrow as pa

    count = block.num_rows
    if count:
        vectors = block.column("vector").combine_chunks()
        dim = vectors.type.list_size
        matrix = vectors.flatten().to_numpy().reshape(count, dim).astype("<f4", copy=False)
        rows = zip(block.column("paper_id").to_pylist(), block.column("text_hash").to_pylist(),
                   matrix, strict=True)  # fmt: skip
        save_vectors(_engine(database_url), model, dim, rows)
    return pa.table({"written": pa.array([count], pa.int64())})


_UPSERT = (
    "INSERT INTO paper_embeddings (model, paper_id, text_hash, dim, vector, created_at) "
    "{source} ON CONFLICT (model, paper_id) DO UPDATE SET text_hash = excluded.text_hash, "
    "dim = excluded.dim, vector = excluded.vector, created_at = excluded.created_at"
)


def save_vectors(
    engine: Engine, model: str, dim: int, rows: Iterator[tuple[str, str, np.ndarray]]
) -> None:
    """Store (paper_id, text_hash, vector) rows of `model` in one transaction, replacing older
    ones: COPY into a staging table and one merge on PostgreSQL, one executemany on SQLite."""
    from sqlalchemy.dialects import sqlite

    from paperfeed.core.clock import utcnow

    now = utcnow().replace(tzinfo=None)  # UTCDateTime stores naive UTC
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        if engine.dialect.name == "postgresql":
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS pf_vector_stage (paper_id text, "
                    "text_hash text, vector bytea) ON COMMIT DELETE ROWS"
                )
                copy_sql = "COPY pf_vector_stage (paper_id, text_hash, vector) FROM STDIN"
                with cursor.copy(copy_sql + " (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "text", "bytea"])
                    for paper_id, digest, vector in rows:
                        copy.write_row((paper_id, digest, vector.tobytes()))
                source = "SELECT %s, paper_id, text_hash, %s, vector, %s FROM pf_vector_stage"
                cursor.execute(_UPSERT.format(source=source), (model, dim, now))
            return
        process = sqlite.DATETIME().bind_processor(engine.dialect)
        stamp = process(now) if process is not None else now  # as SQLAlchemy writes it
        cursor = raw.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            _UPSERT.format(source="VALUES (?, ?, ?, ?, ?, ?)"),
            ((model, pid, digest, dim, vec.tobytes(), stamp) for pid, digest, vec in rows),
        )
        cursor.close()


def embed_with_ray(
    ray: Any,
    run: RayPlan,
    *,
    progress: ProgressSink | None = None,
) -> BackfillResult:
    """Embed every paper with no current vector under `run.model`; resumable (see the module)."""
    result = BackfillResult()
    started = time.perf_counter()
    ranges = block_ranges(_engine(run.database_url), run.block_size)
    if not ranges:
        return result
    data = ray.data.from_items(
        [{"first": first, "last": last} for first, last in ranges],
        override_num_blocks=len(ranges),
    )
    shared = {"database_url": run.database_url, "model": run.model}
    tokenized = data.map_batches(
        read_and_tokenize, batch_size=1, fn_kwargs=shared, batch_format="numpy", num_cpus=1
    )
    # No restarts: a lost actor fails the run, which the next run resumes. (This also keeps
    # Ray from fusing the tokenizer into the actors, which would leave the CPU workers idle.)
    actor_resources: dict[str, Any] = {
        "num_gpus": 1 if run.device == "cuda" else 0,
        "num_cpus": 1 if run.device == "cuda" else run.cpus_per_actor,
        "max_restarts": 0,
    }
    embedded = tokenized.map_batches(
        EmbedActor,
        fn_constructor_kwargs={
            "device": run.device,
            "batch_size": run.batch_size,
            "threads": int(run.cpus_per_actor),
        },
        batch_size=run.block_size,  # a block (small ones may come together)
        batch_format="pyarrow",
        zero_copy_batch=True,
        compute=ray.data.ActorPoolStrategy(size=run.actors),
        **actor_resources,
    )
    written = embedded.map_batches(
        write_block, batch_size=None, fn_kwargs=shared, batch_format="pyarrow", num_cpus=0.5
    )
    for batch in written.iter_batches(batch_size=None, batch_format="pyarrow"):
        count = int(sum(batch.column("written").to_pylist()))
        result.embedded += count
        if progress is not None and count:
            progress.advance(count)
    result.seconds = time.perf_counter() - started
    return result
