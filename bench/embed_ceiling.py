"""MiniLM on one CPU core against the matrix-product ceiling of that core, measured in one run.

    .venv/bin/python bench/embed_ceiling.py [--n 240] [--batch 4] [--before-batch 32] [--int8]

The background embedder runs all-MiniLM-L6-v2 through ONNX Runtime on one core. Its work is
almost all matrix products, so the fastest it can go is the core's fp32 matrix-product rate divided
by the FLOPs of one abstract. This script measures, in the same process and the same minute:

- the ceiling: ONNX Runtime, one thread, fp32 MatMul at the shapes of MiniLM's layers
  ([tokens, 384] x [384, 384 | 1536] and [tokens, 1536] x [1536, 384]), best of a few repeats;
- the FLOPs of each abstract from its real token count (6 layers; per token per layer
  24·d² for the projections and feed-forward plus 4·t·d for attention, d = 384);
- the embedder itself, one thread, on real abstracts from the arXiv snapshot, batched by length
  as the CPU backfill batches them (`--batch`, default the CPU default), and with the batches of
  before (`--before-batch`) in the same run.

Each rate is measured twice: in wall-clock time and in the CPU time of the thread doing the
work (ONNX Runtime runs a one-thread session on the calling thread). On a shared machine the
wall-clock ratio compares the embedder's whole run, which other processes preempt, with the
ceiling's best short burst, which they rarely do; CPU time compares the two on the same footing.

It prints abstracts/s, the ceiling in abstracts/s and the ratios; with `--int8` also the same for
a dynamically quantised graph (int8 weights) and its cosine to the fp32 vectors.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"

D, FF, LAYERS = 384, 1536, 6


def abstracts(count: int, skip: int = 5000) -> list[str]:
    from paperfeed.search.embedding import paper_text

    with gzip.open(SNAPSHOT, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, skip, skip + count)]
    return [paper_text(r["title"], r["abstract"]) for r in records]


def abstract_flops(tokens: int) -> float:
    """Multiply-adds x 2 of one abstract of `tokens` tokens through MiniLM-L6."""
    per_token_layer = 2 * (4 * D * D + 2 * D * FF) + 4 * tokens * D
    return LAYERS * tokens * per_token_layer


def matmul_ceiling(rows: int = 2048, repeats: int = 7) -> tuple[float, float]:
    """FLOP/s of one-thread fp32 MatMul in ONNX Runtime at MiniLM's layer shapes (best shape),
    in wall-clock time and in the thread's CPU time."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    best = best_cpu = 0.0
    for inner, outer in ((D, D), (D, FF), (FF, D)):
        weight = rng.standard_normal((inner, outer)).astype(np.float32)
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])],
            "ceiling",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, inner])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, outer])],
            [numpy_helper.from_array(weight, "w")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        x = rng.standard_normal((rows, inner)).astype(np.float32)
        session.run(None, {"x": x})
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.thread_time()
            session.run(None, {"x": x})
            seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
            best = max(best, 2 * rows * inner * outer / seconds)
            best_cpu = max(best_cpu, 2 * rows * inner * outer / max(cpu_seconds, 1e-9))
    return best, best_cpu


def quantized(source: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(tempfile.mkdtemp(prefix="pf-int8-")) / "minilm-int8.onnx"
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=240, help="abstracts to embed")
    from paperfeed.search.embedding import default_batch_size

    parser.add_argument("--batch", type=int, default=default_batch_size("cpu"))
    parser.add_argument("--before-batch", type=int, default=32, help="the old batch size")
    parser.add_argument("--home", type=Path, default=None, help="where models are (default tmp)")
    parser.add_argument("--int8", action="store_true", help="also a dynamically quantised graph")
    args = parser.parse_args()

    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.onnx import OnnxMiniLM, ensure_onnx_model
    from paperfeed.search.embedding.tokens import encode_batch, load_tokenizer

    home = args.home or Path(tempfile.mkdtemp(prefix="pf-ceiling-"))
    onnx_path = ensure_onnx_model(home / "models")
    texts = abstracts(args.n)
    tokens = [len(e.ids) for e in encode_batch(load_tokenizer(shipped_model_dir()), texts)]
    flops = sum(abstract_flops(t) for t in tokens) / len(texts)
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    print(f"{len(texts)} abstracts, {np.mean(tokens):.0f} tokens on average (max {max(tokens)}),"
          f" {flops / 1e9:.2f} GFLOP each")  # fmt: skip

    def rate_of(path: Path, batch: int) -> tuple[float, float, np.ndarray]:
        """(abstracts/s in wall-clock time, in CPU time, vectors) of one pass over the texts."""
        model = OnnxMiniLM(path, shipped_model_dir(), threads=1)
        model.embed(texts[:8], batch_size=batch)
        started, cpu_started = time.perf_counter(), time.thread_time()
        vectors = model.embed(texts, batch_size=batch)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        return len(texts) / seconds, len(texts) / cpu_seconds, vectors

    before = matmul_ceiling()
    rate, cpu_rate, reference = rate_of(onnx_path, args.batch)
    old_rate, old_cpu_rate, old_vectors = rate_of(onnx_path, args.before_batch)
    after = matmul_ceiling()
    ceiling, cpu_ceiling = max(before[0], after[0]), max(before[1], after[1])  # the better side
    limit, cpu_limit = ceiling / flops, cpu_ceiling / flops
    print(f"matrix-product ceiling, one core: {ceiling / 1e9:.1f} GFLOP/s wall-clock"
          f" = {limit:.1f} abstracts/s; {cpu_ceiling / 1e9:.1f} GFLOP/s CPU time"
          f" = {cpu_limit:.1f} abstracts/s")  # fmt: skip
    for label, wall, cpu in (
        (f"batch {args.batch} (now)", rate, cpu_rate),
        (f"batch {args.before_batch} (before)", old_rate, old_cpu_rate),
    ):
        print(f"MiniLM fp32 ONNX Runtime, one thread, {label}: wall-clock {wall:.1f} abstracts/s"
              f" = {wall * flops / 1e9:.1f} GFLOP/s, {wall / limit:.0%} of the ceiling;"
              f" CPU time {cpu:.1f} abstracts/s = {cpu * flops / 1e9:.1f} GFLOP/s,"
              f" {cpu / cpu_limit:.0%} of the ceiling")  # fmt: skip
    cosine = np.sum(reference * old_vectors, axis=1)
    print(f"batch {args.batch} / batch {args.before_batch}: x{rate / old_rate:.2f} wall-clock,"
          f" x{cpu_rate / old_cpu_rate:.2f} CPU time; cosine of their vectors min"
          f" {cosine.min():.6f}")  # fmt: skip
    if args.int8:
        rate8, _, vectors8 = rate_of(quantized(onnx_path), args.batch)
        cosine = np.sum(reference * vectors8, axis=1)
        print(f"MiniLM int8 (dynamic) one thread: {rate8:.1f} abstracts/s, x{rate8 / rate:.2f}"
              f" vs fp32; cosine to fp32 mean {cosine.mean():.4f},"
              f" min {cosine.min():.4f}")  # fmt: skip
    cores = os.cpu_count() or 1
    print(f"background embedder (one core): 80,017 papers in {80_017 / rate / 3600:.1f} h;"
          f" a GPU (bench/embed_gpu.py) does them in seconds; {cores} cores"
          f" at this rate: {80_017 / rate / cores / 3600:.1f} h")  # fmt: skip


if __name__ == "__main__":
    main()
