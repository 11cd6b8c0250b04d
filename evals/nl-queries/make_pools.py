"""Make the judging pools of the nl-queries eval set from four rankings over the corpus.

For every query of queries.jsonl (beside this file) the pool is the union of the top DEPTH (20)
papers of four rankers over the corpus `hf2026+arxiv2026-05..07` (see make_corpus.py):

  bm25-stock      bm25s (method "lucene", default k1=1.5, b=0.75) over title + " " + abstract,
                  English stop words and the Snowball English stemmer, no field boosts;
                  papers scoring 0 (no query term) are dropped.
  bm25-paperfeed  paperfeed.search.service.search with Fusion(lexical_weight=1, dense_weight=0,
                  runaway=None), through indexes that offer no vector index, so dense search
                  is not consulted at all (the result must say dense=False).
  dense           MiniLM cosine alone: the query vector from SearchIndexes.embed_query ranked
                  against every stored paper vector (the vector index is exact below 20,000
                  vectors). For reference the script also runs search() with
                  Fusion(lexical_weight=0, dense_weight=1, runaway=None) and prints how far
                  its top DEPTH agrees with the direct ranking.
  hybrid          paperfeed.search.service.search with its default fusion (dense=True required).

Writes
  pools.jsonl (beside this file): one line per (query, pooled paper), {"query_id", "paper_id",
      "title", "abstract"}, each query's papers sorted by paper id, so a grader cannot tell
      which ranker found which paper or at what rank;
  RUNS/<ranker>.json: each ranker's top DEPTH per query ({query_id: [{"rank", "paper_id",
      "score"}]}), plus RUNS/summary.json (pool sizes, overlaps), kept outside the repo.

Run it only after `paperfeed embed` finished and `paperfeed index` ran: it refuses to pool while
some stored paper has no vector, or when a dense or hybrid search did not use vectors.

    cd /work/scratch/pf-base   # the worktree with its .venv (paperfeed installed, bm25s, PyStemmer)
    PAPERFEED_HOME=/work/scratch/nlq-home PAPERFEED_EMBED_IN_BACKGROUND=false \\
        .venv/bin/python /work/main/evals/nl-queries/make_pools.py [--runs DIR] [--depth N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from sqlalchemy import select

from paperfeed.search.fusion import Fusion
from paperfeed.search.service import SearchIndexes, search
from paperfeed.settings import get_settings
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow

HERE = Path(__file__).resolve().parent
RANKERS = ("bm25-stock", "bm25-paperfeed", "dense", "hybrid")
LEXICAL_ONLY = Fusion(lexical_weight=1.0, dense_weight=0.0, runaway=None)
DENSE_ONLY = Fusion(lexical_weight=0.0, dense_weight=1.0, runaway=None)


class WordsOnly(SearchIndexes):
    """The live indexes without the vector index: search() then ranks by BM25 alone."""

    def vectors(self):
        return None


def load_queries(path: Path) -> list[dict]:
    queries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids = [q["id"] for q in queries]
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: duplicate query ids")
    return queries


def stock_bm25(papers: list[tuple[str, str, str]], queries: list[dict], depth: int) -> dict:
    stemmer = Stemmer.Stemmer("english")
    texts = [f"{title} {abstract}" for _, title, abstract in papers]
    retriever = bm25s.BM25(method="lucene")
    corpus_tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.index(corpus_tokens, show_progress=False)
    runs = {}
    for q in queries:
        tokens = bm25s.tokenize([q["query"]], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = retriever.retrieve(tokens, k=depth, show_progress=False)
        runs[q["id"]] = [
            (papers[int(doc)][0], float(score))
            for doc, score in zip(docs[0], scores[0], strict=True)
            if score > 0
        ]
    return runs


def paperfeed_runs(db: Database, settings, queries: list[dict], depth: int) -> dict:
    indexes = SearchIndexes(settings)
    words_only = WordsOnly(settings)
    vector_index = indexes.vectors()
    if vector_index is None or not len(vector_index):
        sys.exit("no vector index: run `paperfeed embed` and `paperfeed index` first")
    runs = {name: {} for name in ("bm25-paperfeed", "dense", "hybrid", "dense-via-search")}
    with db.sessions() as session:
        for q in queries:
            text = q["query"]
            lexical = search(session, words_only, text, limit=depth, fusion=LEXICAL_ONLY)
            hybrid = search(session, indexes, text, limit=depth)
            via_search = search(session, indexes, text, limit=depth, fusion=DENSE_ONLY)
            if lexical.dense:
                sys.exit(f"{q['id']}: the BM25 ranking used vectors")
            if not hybrid.dense or not via_search.dense:
                sys.exit(f"{q['id']}: a dense or hybrid search did not use vectors")
            query_vector = indexes.embed_query(lexical.query)
            runs["bm25-paperfeed"][q["id"]] = [(h.paper.arxiv_id, h.score) for h in lexical.hits]
            runs["hybrid"][q["id"]] = [(h.paper.arxiv_id, h.score) for h in hybrid.hits]
            runs["dense-via-search"][q["id"]] = [
                (h.paper.arxiv_id, h.score) for h in via_search.hits
            ]
            runs["dense"][q["id"]] = vector_index.search(np.asarray(query_vector), depth)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=HERE / "queries.jsonl")
    parser.add_argument("--pools", type=Path, default=HERE / "pools.jsonl")
    parser.add_argument("--runs", type=Path, default=Path("/work/scratch/nlq/runs"))
    parser.add_argument("--depth", type=int, default=20)
    args = parser.parse_args()
    started = time.monotonic()

    settings = get_settings()
    queries = load_queries(args.queries)
    with Database(settings.database_url, migrate=False) as db:
        with db.sessions() as session:
            rows = session.execute(
                select(PaperRow.id, PaperRow.title, PaperRow.abstract).order_by(PaperRow.id)
            ).all()
        papers = [(pid, title or "", abstract or "") for pid, title, abstract in rows]
        text_of = {pid: (title, abstract) for pid, title, abstract in papers}
        vector_index = SearchIndexes(settings).vectors()
        embedded = len(vector_index) if vector_index is not None else 0
        if embedded != len(papers):
            sys.exit(f"{embedded} of {len(papers)} papers in the vector index: embed/index first")
        print(f"corpus: {len(papers)} papers, {embedded} vectors; {len(queries)} queries")

        runs = {"bm25-stock": stock_bm25(papers, queries, args.depth)}
        runs.update(paperfeed_runs(db, settings, queries, args.depth))

    args.runs.mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        out = {
            qid: [
                {"rank": rank, "paper_id": pid, "score": round(score, 6)}
                for rank, (pid, score) in enumerate(hits, start=1)
            ]
            for qid, hits in run.items()
        }
        (args.runs / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")

    pool_sizes, short_runs = {}, Counter()
    with args.pools.open("w") as f:
        for q in queries:
            pooled = set()
            for name in RANKERS:
                hits = runs[name][q["id"]]
                short_runs[name] += len(hits) < args.depth
                pooled.update(pid for pid, _ in hits)
            pool_sizes[q["id"]] = len(pooled)
            for pid in sorted(pooled):
                title, abstract = text_of[pid]
                line = {"query_id": q["id"], "paper_id": pid, "title": title, "abstract": abstract}
                f.write(json.dumps(line, ensure_ascii=False) + "\n")

    agree = [
        len({p for p, _ in runs["dense"][qid]} & {p for p, _ in runs["dense-via-search"][qid]})
        / max(1, len(runs["dense"][qid]))
        for qid in pool_sizes
    ]
    sizes = list(pool_sizes.values())
    summary = {
        "corpus_papers": len(papers),
        "queries": len(queries),
        "depth": args.depth,
        "rankers": list(RANKERS),
        "pooled_pairs": sum(sizes),
        "pool_min": min(sizes),
        "pool_mean": round(sum(sizes) / len(sizes), 2),
        "pool_max": max(sizes),
        "pool_sizes": pool_sizes,
        "runs_shorter_than_depth": dict(short_runs),
        "dense_direct_vs_search_top_overlap_mean": round(sum(agree) / len(agree), 4),
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.runs / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "pool_sizes"}, indent=1))


if __name__ == "__main__":
    main()
