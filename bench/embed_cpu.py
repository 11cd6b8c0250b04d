"""CPU embedding benchmark: load time, memory and abstracts/s of each embedder on real papers.

    .venv/bin/python bench/embed_cpu.py [--minilm-n 256] [--static-n 20000] [--distill]

Each backend loads in a fresh process, so its load time and resident memory are its own:
MiniLM as the site embeds papers on CPU (OpenVINO at the embed_precision setting: bf16 where
the CPU has it), MiniLM through torch (the GPU path, run on CPU), and the model2vec static
model. The CPU path's MiniLM is the baseline the others are compared with.
`--distill` also times exporting the ONNX graph and distilling the static model from scratch.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-cs" / "arxiv_cs_2025-03_2026-07.jsonl.gz"

# Runs in a child process: load one backend, embed, report as JSON.
CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from pathlib import Path
from paperfeed.settings import Settings
from paperfeed.search import embedding as E
from paperfeed.search.embedding.build import shipped_model_dir
from paperfeed.search.embedding.gpu import TorchMiniLM
backend, home, texts_file, batch = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
settings = Settings(home=home, database_url="sqlite://")
if backend == "torch":
    model = TorchMiniLM(shipped_model_dir(), device="cpu")
else:
    model = E.load_embedder(settings, "static" if backend == "static" else "minilm", "cpu")
model.embed(["warm up"])
load_s = time.perf_counter() - started
rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
texts = json.loads(Path(texts_file).read_text())
started = time.perf_counter()
model.embed(texts, batch_size=batch)
seconds = time.perf_counter() - started
print(json.dumps({"load_s": load_s, "rss_mb": rss_load, "n": len(texts), "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def abstracts(count: int) -> list[str]:
    from paperfeed.search.embedding import paper_text

    with gzip.open(SNAPSHOT, "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, count)]
    return [paper_text(r["title"], r["abstract"]) for r in records]


def measure(backend: str, home: Path, texts: list[str], batch: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, backend, str(home), handle.name, str(batch)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minilm-n", type=int, default=256, help="abstracts for MiniLM")
    parser.add_argument("--static-n", type=int, default=20000, help="abstracts for static")
    parser.add_argument("--home", type=Path, default=None, help="where models are (default tmp)")
    parser.add_argument("--distill", action="store_true", help="time export and distillation")
    args = parser.parse_args()

    from paperfeed.search.embedding.onnx import ensure_onnx_model
    from paperfeed.search.embedding.static import ensure_static_model
    from paperfeed.settings import Settings

    home = args.home or Path(tempfile.mkdtemp(prefix="pf-embed-cpu-"))
    models = Settings(home=home, database_url="sqlite://").home / "models"
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine)")
    if args.distill:
        builds = (("ONNX export", ensure_onnx_model), ("static distil", ensure_static_model))
        for what, build in builds:
            scratch = Path(tempfile.mkdtemp(prefix="pf-build-"))
            started = time.perf_counter()
            path = build(scratch)
            size = sum(f.stat().st_size for f in [path, *path.rglob("*")] if f.is_file())
            print(f"{what}: {time.perf_counter() - started:.1f} s, {size / 2**20:.0f} MiB")
    ensure_onnx_model(models)
    ensure_static_model(models)

    texts = abstracts(max(args.minilm_n, args.static_n))
    rows = [
        ("minilm OpenVINO (cpu path)", "onnx", texts[: args.minilm_n], 32),
        ("minilm torch fp32 on cpu", "torch", texts[: args.minilm_n], 32),
        ("static model2vec 256-d", "static", texts[: args.static_n], 1024),
    ]
    baseline = None
    for label, backend, sample, batch in rows:
        result = measure(backend, home, sample, batch)
        rate = result["n"] / result["seconds"]
        baseline = baseline or rate
        print(f"{label:32s} load {result['load_s']:5.1f} s  RSS after load "
              f"{result['rss_mb']:5.0f} MB (peak {result['peak_rss_mb']:5.0f})  "
              f"{rate:8.1f} abstracts/s over {result['n']}  x{rate / baseline:.1f} vs ONNX; "
              f"3M in {3_000_000 / rate / 3600:.1f} h")  # fmt: skip


if __name__ == "__main__":
    main()
