"""Search at scale: index build time, disk, memory and query latency at N papers, beside a baseline.

For each N in --sizes the corpus is the real arXiv snapshot (74,728 papers); beyond that, copies
of the real papers with 25% of each title's and abstract's words replaced by words drawn from
the real vocabulary (by frequency), under new ids.

Vectors: embedding 1M abstracts with MiniLM takes hours on this CPU, so the real papers are
embedded with the static (model2vec) model distilled from MiniLM (about a minute; cached in the
data folder's cache/), mapped isometrically into 384 dimensions (MiniLM's width; cosines are
unchanged), and each perturbed copy gets its source's vector plus Gaussian noise (cosine about
0.85 to the source). Query vectors are the query titles embedded the same way, so recall is
measured on real semantic structure, not on random points.

Serving is measured in a fresh process that opens the built indexes the way the site does, so
its resident memory is what a server needs. Queries are 200 real titles. Each is timed as
lexical (BM25, top 100), dense (vector index, top 100), and hybrid: the real MiniLM embedding
of the query text plus the service's ranking core (search.service.rank: BM25 + vectors + exact
scores of the BM25 candidates + fusion). The baseline is arxiv-sanity-lite's way, in the same
process: numpy dot over every vector, then a sort.

    PAPERFEED_HOME=... .venv/bin/python bench/search_scale.py --sizes 75000,1000000
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

DIM = 384
REPLACED = 0.25
QUERIES = 200
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SNAPSHOT = (
    Path(os.environ.get("PAPERFEED_SHARED_DATA", SHARED))
    / "arxiv-cs"
    / "arxiv_cs_2025-03_2026-07.jsonl.gz"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="75000,1000000", help="comma-separated corpus sizes")
    parser.add_argument("--work", type=Path, default=None, help="folder for the indexes (temp)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the serving subprocess
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve)))
        return
    real = read_snapshot()
    print(f"real papers: {len(real):,} (snapshot {SNAPSHOT.name})", flush=True)
    base_vectors = real_vectors(real)
    for size in [int(s) for s in args.sizes.split(",")]:
        work = Path(tempfile.mkdtemp(prefix=f"search-scale-{size}-", dir=args.work))
        try:
            built = build(real, base_vectors, size, work)
            served = run_serving(work)
            report(size, built, served)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def read_snapshot() -> list[tuple[str, str, str, list[str], list[str]]]:
    records = []
    with gzip.open(SNAPSHOT, "rt") as lines:
        for line in lines:
            r = json.loads(line)
            authors = [" ".join(a[::-1]).strip() for a in r.get("authors_parsed") or []]
            cats = (r.get("categories") or "").split()
            records.append((r["id"], r["title"], r.get("abstract") or "", authors, cats))
    return records


def corpus(real, size: int, seed: int = 0):
    """The first `size` papers: the real ones, then perturbed copies of them."""
    yield from real[:size]
    if size <= len(real):
        return
    rng = random.Random(seed)
    counts = Counter(w for _, t, a, _, _ in real[:20_000] for w in f"{t} {a}".split())
    vocabulary, weights = zip(*counts.most_common(50_000), strict=True)
    cumulative = list(itertools.accumulate(weights))  # computed once, not per choice
    made = len(real)
    copy = 1
    while made < size:
        for paper_id, title, abstract, authors, cats in real:
            if made >= size:
                return
            yield (
                f"{paper_id}.c{copy}",
                _perturb(title, rng, vocabulary, cumulative),
                _perturb(abstract, rng, vocabulary, cumulative),
                authors,
                cats,
            )
            made += 1
        copy += 1


def _perturb(text: str, rng: random.Random, vocabulary, cumulative) -> str:
    words = text.split()
    picks = rng.choices(vocabulary, cum_weights=cumulative, k=len(words))
    return " ".join(p if rng.random() < REPLACED else w for w, p in zip(words, picks, strict=True))


def _projection(width: int) -> np.ndarray:
    """Orthonormal rows (width x DIM): maps vectors into DIM dimensions keeping every cosine."""
    q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((DIM, width)))
    return q.T.astype(np.float32)


def embed_static(texts: list[str]) -> np.ndarray:
    from paperfeed.search import embedding as embed
    from paperfeed.settings import Settings

    embedder = embed.load_embedder(Settings(), "static", "cpu")
    vectors = embedder.embed(texts, batch_size=2048)
    return vectors @ _projection(vectors.shape[1])


def real_vectors(real) -> np.ndarray:
    from paperfeed.search.embedding import paper_text
    from paperfeed.settings import Settings

    cache = Settings().home / "cache" / "bench" / f"static-{len(real)}-{DIM}.npy"
    if cache.is_file():
        return np.load(cache)
    started = time.perf_counter()
    vectors = embed_static([paper_text(t, a) for _, t, a, _, _ in real])
    print(f"embedded {len(real):,} real papers (static) in {time.perf_counter() - started:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def corpus_vectors(base: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    """The real vectors, then each copy's source vector plus noise (cosine ~0.85 to it)."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, DIM), dtype=np.float32)
    first = min(count, len(base))
    out[:first] = base[:first]
    for start in range(first, count, 200_000):
        n = min(200_000, count - start)
        source = base[np.arange(start, start + n) % len(base)]
        block = source + (0.62 / np.sqrt(DIM)) * rng.standard_normal((n, DIM), dtype=np.float32)
        out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def build(real, base_vectors: np.ndarray, size: int, work: Path) -> dict:
    from paperfeed.domain import Author, Paper
    from paperfeed.search import lexical
    from paperfeed.search.vectors import ann as vectors

    started = time.perf_counter()
    index = lexical.open_index(work / "lexical")
    writer = index.writer(256_000_000, 2)
    ids = []
    for paper_id, title, abstract, authors, cats in corpus(real, size):
        paper = Paper.model_construct(
            arxiv_id=paper_id, title=title, abstract=abstract, categories=cats,
            authors=[Author.model_construct(name=a, hf_user=None) for a in authors],
            published_at=None, announced_on=None, organization=None,
        )  # fmt: skip
        writer.add_document(lexical.document(paper))
        ids.append(paper_id)
    writer.commit()
    writer.wait_merging_threads()
    lexical_s = time.perf_counter() - started

    matrix = corpus_vectors(base_vectors, len(ids))
    started = time.perf_counter()
    keys = [lexical.paper_key(i) for i in ids]
    vectors.build(work / "vectors", "static-projected-384", ids, keys, matrix, "bench")
    vectors_s = time.perf_counter() - started
    titles = [title for _, title, _, _, _ in random.Random(2).sample(real, QUERIES)]
    (work / "queries.json").write_text(json.dumps(titles))
    np.save(work / "query_vectors.npy", embed_static(titles))
    return {
        "papers": len(ids),
        "lexical_build_s": lexical_s,
        "vectors_build_s": vectors_s,
        "vector_count": len(matrix),
        "lexical_disk_mb": _disk(work / "lexical"),
        "vectors_disk_mb": _disk(work / "vectors"),
        "vector_kind": json.loads((work / "vectors" / "meta.json").read_text())["kind"],
    }


def run_serving(work: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--serve", str(work)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def serve(work: Path) -> dict:
    """Open the indexes as the site does, time the queries, then the linear-scan baseline."""
    from paperfeed.search import embedding as embed
    from paperfeed.search import lexical, service
    from paperfeed.search.lexical import Filters
    from paperfeed.search.vectors import ann as vectors
    from paperfeed.settings import Settings

    titles = json.loads((work / "queries.json").read_text())
    index = lexical.open_index(work / "lexical")
    vector_index = vectors.load(work / "vectors")
    embedder = embed.load_embedder(Settings(), "minilm", "cpu", threads=1)
    query_vectors = np.load(work / "query_vectors.npy")
    text_queries = [lexical.text_query(t)[0] for t in titles]
    filters = Filters()
    for i in range(5):  # warm up caches and the model
        lexical.search(index, text_queries[i], 100)
        vector_index.search(query_vectors[i], 100)
        embedder.embed([titles[i]])
    lexical_ms, dense_ms, embed_ms, hybrid_ms = [], [], [], []
    dense_results = []
    for title, text_query, vector in zip(titles, text_queries, query_vectors, strict=True):
        lexical_ms.append(_timed(lambda q=text_query: lexical.search(index, q, 100)))
        dense_ms.append(_timed(lambda v=vector: dense_results.append(vector_index.search(v, 100))))
        embed_ms.append(_timed(lambda t=title: embedder.embed([t])))
        hybrid_ms.append(
            embed_ms[-1]
            + _timed(
                lambda q=text_query, v=vector: service.rank(index, vector_index, q, v, filters, 100)
            )
        )
    rss_mb = _rss_mb()
    rss_split = {"anon": _rss_mb("RssAnon"), "file": _rss_mb("RssFile")}
    matrix = np.ascontiguousarray(vector_index.vectors)  # the baseline holds all vectors in RAM
    scan_ms, recall = [], []
    for vector, found in zip(query_vectors, dense_results, strict=True):
        top: list[np.ndarray] = []
        scan_ms.append(_timed(lambda v=vector, t=top: t.append(np.argsort(-(matrix @ v))[:100])))
        exact = {str(vector_index.ids[i]) for i in top[0][:10]}
        recall.append(len(exact & {i for i, _ in found[:10]}) / 10)
    return {
        "lexical": _percentiles(lexical_ms),
        "dense": _percentiles(dense_ms),
        "query_embedding": _percentiles(embed_ms),
        "hybrid": _percentiles(hybrid_ms),
        "linear_scan": _percentiles(scan_ms),
        "recall_at_10": float(np.mean(recall)),
        "serving_rss_mb": rss_mb,
        "serving_rss_anon_mb": rss_split["anon"],
        "serving_rss_file_mb": rss_split["file"],
        "load_average": os.getloadavg()[0],
        "rss_with_baseline_mb": _rss_mb(),
    }


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _percentiles(values: list[float]) -> dict:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def _rss_mb(field: str = "VmRSS") -> float:
    """Resident memory; RssFile is memory-mapped index files (page cache, reclaimable)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _disk(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def report(size: int, built: dict, served: dict) -> None:
    print(f"\n== N = {built['papers']:,} papers ==")
    print(
        f"build: BM25 {built['lexical_build_s']:.1f} s ({built['lexical_disk_mb']} MB on disk); "
        f"vectors {built['vectors_build_s']:.1f} s, {built['vector_kind']} "
        f"({built['vectors_disk_mb']} MB on disk)"
    )
    print(
        f"load average during serving (2 cores, shared): {served.get('load_average', 0):.1f}; "
        f"serving process RSS {served['serving_rss_mb']} MB "
        f"({served['serving_rss_anon_mb']} MB own, {served['serving_rss_file_mb']} MB mapped) "
        f"(after the baseline loaded every vector: {served['rss_with_baseline_mb']} MB)"
    )
    print(f"{'ms per query':<34}{'p50':>8}{'p95':>8}{'p99':>8}")
    base = served["linear_scan"]
    rows = [
        ("lexical (BM25 top 100)", served["lexical"]),
        ("dense (vector index top 100)", served["dense"]),
        ("query embedding (MiniLM, 1 thread)", served["query_embedding"]),
        ("hybrid (embedding + rank)", served["hybrid"]),
        ("baseline: linear scan dot + sort", base),
    ]
    for name, p in rows:
        print(f"{name:<34}{p['p50']:>8.2f}{p['p95']:>8.2f}{p['p99']:>8.2f}")
    print(
        f"dense recall@10 vs the linear scan: {served['recall_at_10']:.3f}; "
        f"dense p50 {base['p50'] / max(served['dense']['p50'], 1e-9):.1f}x faster than the scan; "
        f"hybrid p95 {served['hybrid']['p95']:.1f} ms"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
