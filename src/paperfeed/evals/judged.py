"""A TREC-style judged query set (queries, graded judgments, a corpus slice of the shared data),
ranked over its whole corpus by every method and scored: `paperfeed eval queries --set DIR`.

The set folder holds `queries.jsonl` ({"id", "type", "query", ...}), `qrels.tsv`
(`query-id corpus-id score`, grades 0-2, with a header) and `corpus.json`, which names the slice:
Hugging Face daily-papers files and arXiv snapshot rows (by first-seen day), paths relative to
the shared data folder. A paper's title and abstract are what paperfeed stores after importing
both: the arXiv record's where there is one, else the daily listing's.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from paperfeed.core.progress import ProgressSink
from paperfeed.evals import baselines
from paperfeed.evals.harness import Doc, EvalCorpus, EvalDataMissing, VectorCache, caches
from paperfeed.evals.metrics import Ranking, average_precision, mean, ndcg
from paperfeed.ingest.arxiv_jsonl import MalformedRecord, parse_record
from paperfeed.ingest.hf_daily import MalformedEntry, parse_entry
from paperfeed.search import lexical
from paperfeed.search.fusion import DEFAULT, Fusion
from paperfeed.search.service import route
from paperfeed.settings import Settings

RELEVANT = 2  # MAP and recall count grade 2 ("what the query asks for") as relevant
DEPTH = 100  # each ranking is cut here (nDCG@10 needs 10; recall@100 and MAP use the rest)


@dataclass
class JudgedQuery:
    id: str
    type: str
    text: str
    grades: dict[str, int]


@dataclass
class JudgedSet:
    name: str
    docs: list[Doc]
    queries: list[JudgedQuery]


def set_files(directory: Path) -> dict[str, Path]:
    """The files of the query set in `directory`, by name; EvalDataMissing names one absent."""
    files = {n: directory / n for n in ("queries.jsonl", "qrels.tsv", "corpus.json")}
    for path in files.values():
        if not path.is_file():
            raise EvalDataMissing(f"query set file not found: {path}")
    return files


def load(directory: Path, data: Path, *, hf_only: bool = False) -> JudgedSet:
    """The set in `directory`, its corpus read from the shared data folder `data`.

    `hf_only`: the corpus cut to the papers a Hugging Face daily listing names, each query's
    judgments to those papers, and only the queries left with a relevant paper (grade 2) kept.
    """
    files = set_files(directory)
    spec = json.loads(files["corpus.json"].read_text(encoding="utf-8"))
    docs, listed = _corpus(spec, data)
    if "papers" in spec and len(docs) != spec["papers"]:
        raise EvalDataMissing(
            f"corpus {spec.get('name')!r} should hold {spec['papers']} papers, found {len(docs)}"
            f" in {data}: is it the shared data folder?"
        )
    name = spec.get("name", directory.name)
    if hf_only:
        docs = [doc for doc in docs if doc.id in listed]
        name = f"{name}, Hugging Face papers only"
    kept = {doc.id for doc in docs}
    grades: dict[str, dict[str, int]] = {}
    with files["qrels.tsv"].open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["corpus-id"] in kept:
                grades.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = []
    for line in files["queries.jsonl"].read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        found = grades.get(record["id"], {})
        # a query without judgments (or, cut to part of the corpus, without a relevant paper
        # left) cannot be scored
        if found and (not hf_only or RELEVANT in found.values()):
            queries.append(
                JudgedQuery(record["id"], record.get("type", ""), record["query"], found)
            )
    return JudgedSet(name, docs, queries)


def _corpus(spec: dict[str, Any], data: Path) -> tuple[list[Doc], set[str]]:
    """The slice's papers as paperfeed stores them, and the ids of those Hugging Face listed."""
    papers: dict[str, Doc] = {}
    for part in spec.get("arxiv_jsonl", []):
        path = data / part["path"]
        if not path.is_file():
            raise EvalDataMissing(f"arXiv snapshot not found: {path}")
        first, last = part.get("first_seen_from", ""), part.get("first_seen_to", "9999")
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if not first <= str(record.get("first_seen_date") or "") <= last:
                    continue
                try:
                    paper = parse_record(record)
                except MalformedRecord:
                    continue
                papers.setdefault(paper.arxiv_id, Doc(paper.arxiv_id, paper.title, paper.abstract))
    listed: set[str] = set()
    for pattern in spec.get("hf_daily", []):
        paths = sorted(data.glob(pattern))
        if not paths:
            raise EvalDataMissing(f"no Hugging Face daily files match {data / pattern}")
        for path in paths:
            for raw in json.loads(path.read_text(encoding="utf-8")):
                try:
                    paper = parse_entry(raw).paper
                except MalformedEntry:
                    continue
                listed.add(paper.arxiv_id)
                # arXiv owns the bibliographic fields: a listing adds only papers not seen yet;
                # Hugging Face owns its AI summary and keywords: a later listing's replace them
                # (as store.writer merges them)
                doc = papers.setdefault(
                    paper.arxiv_id, Doc(paper.arxiv_id, paper.title, paper.abstract)
                )
                summary = paper.ai_summary if paper.ai_summary is not None else doc.ai_summary
                keywords = (
                    tuple(paper.ai_keywords) if paper.ai_keywords is not None else doc.ai_keywords
                )
                papers[paper.arxiv_id] = replace(doc, ai_summary=summary, ai_keywords=keywords)
    return [papers[key] for key in sorted(papers)], listed


def rank(
    judged: JudgedSet,
    cache: VectorCache | None,
    *,
    fusion: Fusion = DEFAULT,
    progress: ProgressSink | None = None,
) -> dict[str, list[Ranking]]:
    """method -> one ranking per query over the whole corpus, as the site's search ranks."""
    matrix = query_matrix = None
    if cache is not None:
        matrix = cache.vectors([d.text for d in judged.docs], progress)
        query_matrix = cache.queries([q.text for q in judged.queries])
    index = EvalCorpus(judged.docs, matrix, cache.embedder.name if cache else "")
    out: dict[str, list[Ranking]] = {}
    for i, query in enumerate(judged.queries):
        text_query, _terms = lexical.text_query(query.text)
        vector = query_matrix[i] if query_matrix is not None else None
        routed, feedback = route(query.text, fusion)  # as the site's search routes it
        ranked = index.rankings(text_query, vector, depth=DEPTH, fusion=routed, feedback=feedback)
        for method, ranking in ranked.items():
            out.setdefault(method, []).append(ranking[:DEPTH])
    return out


def score(queries: Sequence[JudgedQuery], rankings: dict[str, list[Ranking]]) -> dict:
    """nDCG@10, MAP and recall@100 per method, overall and per query type."""
    result: dict[str, Any] = {}
    for method, ranked in rankings.items():
        per_type: dict[str, list[tuple[float, float, float]]] = {}
        for query, ranking in zip(queries, ranked, strict=True):
            relevant = {d for d, g in query.grades.items() if g >= RELEVANT}
            found = len(relevant & set(ranking[:DEPTH])) / len(relevant) if relevant else 0.0
            triple = (ndcg(ranking, query.grades, 10), average_precision(ranking, relevant), found)
            per_type.setdefault(query.type, []).append(triple)
        everything = [t for triples in per_type.values() for t in triples]
        result[method] = _means(everything)
        result[method]["types"] = {t: _means(v) for t, v in sorted(per_type.items())}
    return result


def run(
    settings: Settings,
    directory: Path,
    data: Path,
    kinds: Sequence[str],
    progress: ProgressSink | None = None,
    *,
    hf_only: bool = False,
) -> dict:
    """`paperfeed eval queries --set DIR`: the reference baselines, then paperfeed's BM25,
    then dense and hybrid for each embedding model in `kinds` (and plain RRF with the first).
    `hf_only`: see load."""
    judged = load(directory, data, hf_only=hf_only)
    texts = [q.text for q in judged.queries]
    stock = baselines.StockBM25(judged.docs)
    result: dict[str, Any] = {}
    stock_rankings = [stock.rank(text, DEPTH) for text in texts]
    result.update(score(judged.queries, {"bm25-stock": stock_rankings}))
    result.update(score(judged.queries, {"bm25": rank(judged, None)["bm25"]}))
    for position, (kind, cache) in enumerate(caches(settings, kinds)):
        ranked = rank(judged, cache, progress=progress)
        suffix = "" if position == 0 else f"-{kind}"
        picked = {f"dense{suffix}": ranked["dense"], f"hybrid{suffix}": ranked["hybrid"]}
        picked[f"rrf{suffix}"] = [
            baselines.rrf(s, d)[:DEPTH]
            for s, d in zip(stock_rankings, ranked["dense"], strict=True)
        ]
        result.update(score(judged.queries, picked))
    result["corpus"] = len(judged.docs)
    result["queries"] = len(judged.queries)
    result["set"] = judged.name
    return result


def _means(triples: list[tuple[float, float, float]]) -> dict[str, Any]:
    return {
        "ndcg@10": mean([t[0] for t in triples]),
        "map": mean([t[1] for t in triples]),
        "recall@100": mean([t[2] for t in triples]),
        "queries": len(triples),
    }
