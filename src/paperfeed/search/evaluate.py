"""Ranking quality on judged data: CSFCube (similar papers) and known-item queries from real papers.

Both evals rank with the product's own parts (the BM25 schema and analyzers of search/lexical.py,
the configured embedder, search/fusion.py) and report BM25-only, dense-only and hybrid side by
side. Embeddings of eval texts are cached under <home>/cache/eval/<model>/, keyed by text hash,
because embedding thousands of abstracts on a CPU takes minutes.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tantivy
from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.core.errors import NotFound
from paperfeed.domain import Paper
from paperfeed.search import lexical
from paperfeed.search.fusion import DEFAULT, Fusion, fuse
from paperfeed.store.models import PaperRow

Ranking = list[str]
METHODS = ("bm25", "dense", "hybrid")
CSFCUBE_RELEVANT = 2  # grades 2 and 3 count as relevant for MAP (0-3 scale), as in CSFCube


class EvalDataMissing(NotFound, FileNotFoundError):
    """The eval's input files are not where they were looked for."""


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    abstract: str

    @property
    def text(self) -> str:
        from paperfeed.search.embed import paper_text

        return paper_text(self.title, self.abstract)


class VectorCache:
    """Vectors of eval texts on disk, keyed by the text's hash; missing ones are embedded once."""

    def __init__(self, directory: Path, embedder) -> None:
        from paperfeed.search.embed import text_hash

        self._hash = text_hash
        self.embedder = embedder
        self.path = directory / f"{_slug(embedder.name)}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            saved = np.load(self.path)
            self._vectors = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))

    def vectors(self, texts: Sequence[str], progress=None) -> np.ndarray:
        keys = [self._hash(text) for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            by_key = {self._hash(text): text for text in texts}
            if progress:
                progress.start(f"embedding {len(missing)} eval texts", len(missing))
            for start in range(0, len(missing), 256):  # save as it goes: a long run resumes
                chunk = missing[start : start + 256]
                embedded = self.embedder.embed([by_key[k] for k in chunk], progress=progress)
                self._vectors.update(zip(chunk, embedded, strict=True))
                self._save()
        return np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0))

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        partial = self.path.with_suffix(".partial.npz")
        np.savez(partial, keys=np.asarray(keys), vectors=np.stack([self._vectors[k] for k in keys]))
        partial.replace(self.path)


class PoolIndex:
    """An in-memory BM25 index of eval documents, built with the product's schema and analyzers."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.index = tantivy.Index(lexical.SCHEMA)
        self.index.register_tokenizer(lexical.TEXT, lexical._text_analyzer())
        self.index.register_tokenizer(lexical.NAMES, lexical._names_analyzer())
        writer = self.index.writer(lexical.WRITER_HEAP, 1)
        for doc in docs:
            writer.add_document(
                lexical.document(Paper(arxiv_id=doc.id, title=doc.title, abstract=doc.abstract))
            )
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def rank(
        self, query: tantivy.Query | None, pool: Sequence[str] | None, limit: int
    ) -> list[tuple[str, float]]:
        if query is None:
            return []
        if pool is not None:
            restrict = tantivy.Query.term_set_query(lexical.SCHEMA, "id", list(pool))
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), (tantivy.Occur.Must, restrict)]
            )
        return lexical.search(self.index, query, limit)


# --- metrics ------------------------------------------------------------------------------------


def ndcg(ranking: Ranking, grades: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (the grade), ideal ordering from all judged documents."""
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best > 0 else 0.0


def average_precision(ranking: Ranking, relevant: set[str]) -> float:
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranking):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def _complete(ranking: Ranking, pool: Sequence[str]) -> Ranking:
    """The ranking followed by the pool's unranked documents (in pool order)."""
    seen = set(ranking)
    return list(ranking) + [d for d in pool if d not in seen]


def _dense_ranking(
    query: np.ndarray, ids: Sequence[str], matrix: np.ndarray
) -> list[tuple[str, float]]:
    scores = matrix @ query
    order = np.argsort(-scores, kind="stable")
    return [(ids[i], float(scores[i])) for i in order]


def _ids(scored: list[tuple[str, float]]) -> Ranking:
    return [paper_id for paper_id, _ in scored]


# --- CSFCube ------------------------------------------------------------------------------------


@dataclass
class CsfcubeQuery:
    id: str
    facet: str
    paper: Doc
    pool: list[str]
    grades: dict[str, int]


def load_csfcube(directory: Path) -> tuple[dict[str, Doc], list[CsfcubeQuery]]:
    """The corpus and the 50 faceted queries with their judged pools (query paper left out)."""
    files = [directory / n for n in ("corpus.jsonl", "queries.jsonl", "qrels_test.tsv")]
    for path in files:
        if not path.is_file():
            raise EvalDataMissing(f"CSFCube file not found: {path}")
    corpus = {}
    for line in files[0].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        corpus[record["_id"]] = Doc(record["_id"], record["title"], record["text"])
    judged: dict[str, dict[str, int]] = {}
    with files[2].open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            judged.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = []
    for line in files[1].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        grades = {
            d: g
            for d, g in judged.get(record["_id"], {}).items()
            if d != record["query_paper_id"] and d in corpus
        }
        paper = Doc(record["query_paper_id"], record["title"], record["text"])
        queries.append(CsfcubeQuery(record["_id"], record["facet"], paper, list(grades), grades))
    return corpus, queries


def eval_csfcube(
    directory: Path,
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress=None,
) -> dict:
    """nDCG@10 and MAP of BM25, dense and hybrid rankings of each query's judged pool.

    The query is the query paper's title and abstract (the facet is not given to the rankers);
    figures are the mean over all 50 queries, with each facet's mean under "facets".
    """
    corpus, queries = load_csfcube(directory)
    rankings = rank_csfcube(corpus, queries, cache, fusion=fusion, progress=progress)
    return score_csfcube(queries, rankings)


def rank_csfcube(
    corpus: dict[str, Doc],
    queries: list[CsfcubeQuery],
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress=None,
) -> dict[str, dict[str, Ranking]]:
    """method -> query id -> the query's whole pool, ranked."""
    pool_ids = sorted({d for q in queries for d in q.pool})
    index = PoolIndex([corpus[d] for d in pool_ids])
    vectors: dict[str, np.ndarray] = {}
    if cache is not None:
        docs = [corpus[d] for d in pool_ids] + [q.paper for q in queries]
        matrix = cache.vectors([d.text for d in docs], progress)
        vectors = {d.id: v for d, v in zip(docs, matrix, strict=True)}
    out: dict[str, dict[str, Ranking]] = {m: {} for m in METHODS}
    for query in queries:
        lexical_query = lexical.similar_query(
            Paper(arxiv_id=query.paper.id, title=query.paper.title, abstract=query.paper.abstract)
        )
        bm25 = index.rank(lexical_query, query.pool, len(query.pool))
        out["bm25"][query.id] = _complete(_ids(bm25), query.pool)
        if vectors:
            pool_matrix = np.stack([vectors[d] for d in query.pool])
            dense = _dense_ranking(vectors[query.paper.id], query.pool, pool_matrix)
            out["dense"][query.id] = _ids(dense)
            fused = fuse(bm25, dense, fusion)
            out["hybrid"][query.id] = _complete(_ids(fused), query.pool)
    return {m: r for m, r in out.items() if r}


def score_csfcube(queries: list[CsfcubeQuery], rankings: dict[str, dict[str, Ranking]]) -> dict:
    result: dict = {}
    for method, by_query in rankings.items():
        per_facet: dict[str, list[tuple[float, float]]] = {}
        for query in queries:
            ranking = by_query[query.id]
            relevant = {d for d, g in query.grades.items() if g >= CSFCUBE_RELEVANT}
            pair = (ndcg(ranking, query.grades, 10), average_precision(ranking, relevant))
            per_facet.setdefault(query.facet, []).append(pair)
        everything = [p for pairs in per_facet.values() for p in pairs]
        result[method] = _means(everything)
        result[method]["facets"] = {f: _means(p) for f, p in sorted(per_facet.items())}
    return result


# --- known-item queries from real papers --------------------------------------------------------


@dataclass
class KnownItemQuery:
    style: str  # "summary" or "keywords"
    text: str
    target: str


def build_known_items(
    session: Session, corpus_size: int, queries_per_style: int, seed: int = 7
) -> tuple[list[Doc], list[KnownItemQuery]]:
    """A corpus of stored papers that Hugging Face summarized, and queries naming one of them.

    Each query is written by someone other than the paper's authors: Hugging Face's AI summary
    (a one-sentence paraphrase) or its AI keywords (a few key phrases). The target is the paper
    the query was written for; every other corpus paper is a distractor.
    """
    rows = session.execute(
        select(PaperRow.id, PaperRow.title, PaperRow.abstract, PaperRow.ai_summary,
               PaperRow.ai_keywords)
        .where(PaperRow.ai_summary.is_not(None))
        .order_by(PaperRow.id)
    ).all()  # fmt: skip
    rows = [r for r in rows if r.abstract and r.ai_summary and r.ai_keywords]
    rng = random.Random(seed)
    rng.shuffle(rows)
    rows = rows[:corpus_size]
    corpus = [Doc(r.id, r.title, r.abstract) for r in rows]
    targets = rows[: min(queries_per_style, len(rows))]
    queries = [KnownItemQuery("summary", r.ai_summary, r.id) for r in targets]
    queries += [KnownItemQuery("keywords", ", ".join(r.ai_keywords), r.id) for r in targets]
    return corpus, queries


def eval_known_items(
    corpus: list[Doc],
    queries: list[KnownItemQuery],
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress=None,
) -> dict:
    """MRR@10 (= MAP@10 with one relevant paper), nDCG@10 and recall@10, per method and style."""
    rankings = rank_known_items(corpus, queries, cache, fusion=fusion, progress=progress)
    return score_known_items(queries, rankings)


def rank_known_items(
    corpus: list[Doc],
    queries: list[KnownItemQuery],
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress=None,
) -> dict[str, list[Ranking]]:
    index = PoolIndex(corpus)
    ids = [d.id for d in corpus]
    out: dict[str, list[Ranking]] = {m: [] for m in METHODS}
    doc_matrix = query_matrix = None
    if cache is not None:
        doc_matrix = cache.vectors([d.text for d in corpus], progress)
        query_matrix = cache.vectors([q.text for q in queries], progress)
    depth = fusion.depth
    for i, query in enumerate(queries):
        text_query, _terms = lexical.text_query(query.text)
        bm25 = index.rank(text_query, None, depth)
        out["bm25"].append(_ids(bm25))
        if doc_matrix is not None and query_matrix is not None:
            everything = _dense_ranking(query_matrix[i], ids, doc_matrix)
            out["dense"].append(_ids(everything[:depth]))
            # as the service does: the dense top plus exact scores of the BM25 candidates
            candidates = {d for d, _ in bm25}
            dense = everything[:depth] + [p for p in everything[depth:] if p[0] in candidates]
            out["hybrid"].append(_ids(fuse(bm25, dense, fusion)))
    return {m: r for m, r in out.items() if r}


def score_known_items(queries: list[KnownItemQuery], rankings: dict[str, list[Ranking]]) -> dict:
    result: dict = {}
    for method, ranked in rankings.items():
        per_style: dict[str, list[tuple[float, float, float]]] = {}
        for query, ranking in zip(queries, ranked, strict=True):
            top = ranking[:10]
            rank = top.index(query.target) + 1 if query.target in top else None
            triple = (
                1 / math.log2(rank + 1) if rank else 0.0,
                1 / rank if rank else 0.0,
                1.0 if rank else 0.0,
            )
            per_style.setdefault(query.style, []).append(triple)
        everything = [t for triples in per_style.values() for t in triples]
        result[method] = _known_means(everything)
        result[method]["styles"] = {s: _known_means(t) for s, t in sorted(per_style.items())}
    return result


def _means(pairs: list[tuple[float, float]]) -> dict:
    n = max(len(pairs), 1)
    return {
        "ndcg@10": round(sum(p[0] for p in pairs) / n, 4),
        "map": round(sum(p[1] for p in pairs) / n, 4),
        "queries": len(pairs),
    }


def _known_means(triples: list[tuple[float, float, float]]) -> dict:
    n = max(len(triples), 1)
    return {
        "ndcg@10": round(sum(t[0] for t in triples) / n, 4),
        "map": round(sum(t[1] for t in triples) / n, 4),  # MRR@10: one relevant paper per query
        "recall@10": round(sum(t[2] for t in triples) / n, 4),
        "queries": len(triples),
    }


def cache_dir(home: Path) -> Path:
    return home / "cache" / "eval"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


# --- the commands' entry points ----------------------------------------------------------------


def _caches(settings, kinds: Sequence[str]) -> list[tuple[str, VectorCache]]:
    from paperfeed.search.embed import load_embedder

    return [
        (kind, VectorCache(cache_dir(settings.home), load_embedder(settings, kind, "cpu")))
        for kind in kinds
    ]


def run_similar(settings, directory: Path, kinds: Sequence[str], progress=None) -> dict:
    """`paperfeed eval similar`: BM25, then dense and hybrid for each embedding model in `kinds`.

    The first model's figures are "dense" and "hybrid"; others are "dense-<kind>", "hybrid-<kind>".
    """
    corpus, queries = load_csfcube(directory)
    result = score_csfcube(queries, rank_csfcube(corpus, queries, None))
    for position, (kind, cache) in enumerate(_caches(settings, kinds)):
        scored = score_csfcube(queries, rank_csfcube(corpus, queries, cache, progress=progress))
        suffix = "" if position == 0 else f"-{kind}"
        result[f"dense{suffix}"] = scored["dense"]
        result[f"hybrid{suffix}"] = scored["hybrid"]
    return result


def run_known_items(
    settings,
    session: Session,
    kinds: Sequence[str],
    corpus_size: int,
    queries_per_style: int,
    progress=None,
) -> dict:
    """`paperfeed eval queries`: known-item search, named like run_similar's figures."""
    corpus, queries = build_known_items(session, corpus_size, queries_per_style)
    if not corpus:
        raise EvalDataMissing("no stored papers with Hugging Face summaries: import hf-daily first")
    result = score_known_items(queries, rank_known_items(corpus, queries, None))
    for position, (kind, cache) in enumerate(_caches(settings, kinds)):
        ranked = rank_known_items(corpus, queries, cache, progress=progress)
        scored = score_known_items(queries, ranked)
        suffix = "" if position == 0 else f"-{kind}"
        result[f"dense{suffix}"] = scored["dense"]
        result[f"hybrid{suffix}"] = scored["hybrid"]
    result["corpus"] = len(corpus)
    return result
