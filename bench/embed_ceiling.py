"""MiniLM on one CPU core against the matrix-product ceiling of that core, measured in one run.

    .venv/bin/python bench/embed_ceiling.py [--n 240] [--batch 4] [--rounds 3] [--int8]

The background embedder runs all-MiniLM-L6-v2 through OpenVINO on one core (bf16 where the CPU
multiplies bf16 natively, else fp32; search/embedding/openvino_cpu.py). Its work is almost all
matrix products, so the fastest it can go in fp32 is the core's fp32 matrix-product rate
divided by the FLOPs of one abstract. This script measures, in the same process and the same
minutes:

- the ceiling: ONNX Runtime, one thread, fp32 MatMul at the shapes of MiniLM's layers
  ([tokens, 384] x [384, 384 | 1536] and [tokens, 1536] x [1536, 384]), best of a few repeats,
  before and after each round (the better of the two); beside it, for comparison only, the same
  MatMuls in OpenVINO in fp32 and in bf16 (the ratios are against ONNX Runtime's fp32 ceiling,
  the faster of the two fp32 ones here; each OpenVINO embedder's ratio to its own engine's
  MatMul at its precision is printed beside, measured once after the rounds);
- the FLOPs of each abstract from its real token count (6 layers; per token per layer
  24·d² for the projections and feed-forward plus 4·t·d for attention, d = 384);
- the embedders, one thread, on real abstracts from the arXiv snapshot, batched by length as
  the CPU backfill batches them (`--batch`, default the CPU default): the site's (OpenVINO at
  the precision it picks here), OpenVINO in fp32, and ONNX Runtime in fp32 (the engine before),
  `--rounds` times in turn; each ratio is a round's rate over that round's ceiling, the median
  printed; and the cosine of each one's vectors to ONNX Runtime's fp32 ones.

Each rate is measured twice: in wall-clock time and in the CPU time of the thread doing the
work (with one thread both engines run the model on the calling thread). On a shared machine
the wall-clock ratio compares the embedder's whole run, which other processes preempt, with the
ceiling's best short burst, which they rarely do; CPU time compares the two on the same footing.

With `--int8` also the same for a dynamically quantised ONNX Runtime graph (int8 weights) and
its cosine to the fp32 vectors.
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
from typing import Any

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


def openvino_ceiling(precision: str, rows: int = 2048, repeats: int = 7) -> tuple[float, float]:
    """The same as `matmul_ceiling` through OpenVINO's CPU plugin at `precision` (f32, bf16)."""
    import openvino as ov
    from openvino import opset13 as ops

    core = ov.Core()
    rng = np.random.default_rng(0)
    best = best_cpu = 0.0
    for inner, outer in ((D, D), (D, FF), (FF, D)):
        weight = rng.standard_normal((inner, outer)).astype(np.float32)
        x = ops.parameter([-1, inner], np.float32, name="x")
        model = ov.Model([ops.matmul(x, ops.constant(weight), False, False)], [x])
        config = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1,
                  "INFERENCE_PRECISION_HINT": precision}  # fmt: skip
        request = core.compile_model(model, "CPU", config).create_infer_request()
        rows_in = rng.standard_normal((rows, inner)).astype(np.float32)
        request.infer({0: rows_in})
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.thread_time()
            request.infer({0: rows_in})
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
    parser.add_argument("--rounds", type=int, default=3, help="passes of each embedder")
    parser.add_argument("--home", type=Path, default=None, help="where models are (default tmp)")
    parser.add_argument("--int8", action="store_true", help="also a dynamically quantised graph")
    args = parser.parse_args()

    from paperfeed.search.embedding.build import shipped_model_dir
    from paperfeed.search.embedding.onnx import OnnxMiniLM, ensure_onnx_model
    from paperfeed.search.embedding.openvino_cpu import OpenVinoMiniLM
    from paperfeed.search.embedding.tokens import encode_batch, load_tokenizer

    home = args.home or Path(tempfile.mkdtemp(prefix="pf-ceiling-"))
    onnx_path = ensure_onnx_model(home / "models")
    texts = abstracts(args.n)
    tokens = [len(e.ids) for e in encode_batch(load_tokenizer(shipped_model_dir()), texts)]
    flops = sum(abstract_flops(t) for t in tokens) / len(texts)
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    print(f"{len(texts)} abstracts, {np.mean(tokens):.0f} tokens on average (max {max(tokens)}),"
          f" {flops / 1e9:.2f} GFLOP each")  # fmt: skip

    site = OpenVinoMiniLM(onnx_path, shipped_model_dir(), threads=1)
    embedders: dict[str, Any] = {
        f"OpenVINO {site.precision} (the site's)": site,
        "OpenVINO f32": OpenVinoMiniLM(onnx_path, shipped_model_dir(), threads=1, precision="f32"),
        "ONNX Runtime fp32 (before)": OnnxMiniLM(onnx_path, shipped_model_dir(), threads=1),
    }
    if site.precision == "f32":
        del embedders["OpenVINO f32"]
    if args.int8:
        embedders["ONNX Runtime int8 (dynamic)"] = OnnxMiniLM(
            quantized(onnx_path), shipped_model_dir(), threads=1
        )

    def rate_of(model: Any) -> tuple[float, float, np.ndarray]:
        """(abstracts/s in wall-clock time, in CPU time, vectors) of one pass over the texts."""
        model.embed(texts[:8], batch_size=args.batch)
        started, cpu_started = time.perf_counter(), time.thread_time()
        vectors = model.embed(texts, batch_size=args.batch)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        return len(texts) / seconds, len(texts) / cpu_seconds, vectors

    rates: dict[str, list[tuple[float, float]]] = {label: [] for label in embedders}
    ratios: dict[str, list[tuple[float, float]]] = {label: [] for label in embedders}
    vectors: dict[str, np.ndarray] = {}
    ceilings: list[tuple[float, float]] = []
    before = matmul_ceiling()
    for _ in range(args.rounds):
        passes = {label: rate_of(model) for label, model in embedders.items()}
        after = matmul_ceiling()
        limit = max(before[0], after[0]) / flops, max(before[1], after[1]) / flops
        ceilings.append(limit)
        before = after
        for label, (wall, cpu, found) in passes.items():
            rates[label].append((wall, cpu))
            ratios[label].append((wall / limit[0], cpu / limit[1]))
            vectors[label] = found
    ov_f32, ov_bf16 = openvino_ceiling("f32"), openvino_ceiling("bf16")
    limit, cpu_limit = (float(np.median(column)) for column in zip(*ceilings, strict=True))
    print(f"matrix-product ceiling, one core, ONNX Runtime fp32 (the target's):"
          f" {limit * flops / 1e9:.1f} GFLOP/s wall-clock = {limit:.1f} abstracts/s;"
          f" {cpu_limit * flops / 1e9:.1f} GFLOP/s CPU time = {cpu_limit:.1f} abstracts/s"
          f" (median of {args.rounds} rounds)")  # fmt: skip
    for label, (wall, cpu) in (("OpenVINO f32", ov_f32), ("OpenVINO bf16", ov_bf16)):
        print(f"  the same MatMuls in {label}: {wall / 1e9:.1f} GFLOP/s wall-clock"
              f" = {wall / flops:.1f} abstracts/s, {cpu / 1e9:.1f} GFLOP/s CPU time"
              f" = {cpu / flops:.1f} abstracts/s (for comparison)")  # fmt: skip
    reference = vectors["ONNX Runtime fp32 (before)"]
    for label in embedders:
        wall, cpu = (float(np.median(column)) for column in zip(*rates[label], strict=True))
        wall_ratio, cpu_ratio = (float(np.median(c)) for c in zip(*ratios[label], strict=True))
        cosine = np.sum(reference * vectors[label], axis=1)
        print(f"MiniLM {label}, one thread, batch {args.batch}: wall-clock {wall:.1f} abstracts/s"
              f" = {wall * flops / 1e9:.1f} GFLOP/s, {wall_ratio:.0%} of the ceiling;"
              f" CPU time {cpu:.1f} abstracts/s = {cpu * flops / 1e9:.1f} GFLOP/s,"
              f" {cpu_ratio:.0%} of the ceiling; cosine to ONNX Runtime fp32 min"
              f" {cosine.min():.6f}, mean {cosine.mean():.6f}")  # fmt: skip
        own = {"OpenVINO f32": ov_f32, "OpenVINO bf16": ov_bf16}.get(label.split(" (")[0])
        if own is not None:
            print(f"  against the same engine's own MatMul at its precision:"
                  f" {wall * flops / own[0]:.0%} wall-clock,"
                  f" {cpu * flops / own[1]:.0%} CPU time")  # fmt: skip
    rate = float(np.median([wall for wall, _ in rates[next(iter(embedders))]]))
    cores = os.cpu_count() or 1
    print(f"background embedder (one core): 80,017 papers in {80_017 / rate / 3600:.1f} h;"
          f" a GPU (bench/embed_gpu.py) does them in seconds; {cores} cores"
          f" at this rate: {80_017 / rate / cores / 3600:.1f} h")  # fmt: skip


if __name__ == "__main__":
    main()
