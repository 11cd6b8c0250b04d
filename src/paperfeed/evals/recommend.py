"""Recommendations on the author-history protocol: can a reader's own papers find their next ones?

On the real arXiv snapshot, an author with at least MIN_HISTORY papers before the cutoff and at
least one in the WEEKS after it is a reader. Their saved papers are their own most recent papers
before the cutoff (up to HISTORY, each saved on the day it was listed, so older ones weigh less);
the candidates are every paper listed in the weeks after the cutoff, seen only through their
title and abstract (no author names), so only content carries the signal; the relevant ones are
the reader's own papers among them. Each method ranks all candidates for each reader; figures
are means over readers: recall@20, recall@50 and nDCG@20 (binary gains), with each method's
per-request time (median and p95 over readers) beside them.

Methods, all in the same run on the same readers:
- random;
- tfidf-centroid: cosine to the mean tf-idf row of the saved papers (arxiv-sanity-lite's tf-idf);
- asl-svm: arxiv-sanity-lite's recommender as its code does it: tf-idf of title and abstract
  (1-2 grams, 20k features, sublinear tf, max_df 0.1, min_df 5), a LinearSVC (C=0.1, balanced
  classes) trained at each request on the whole corpus, the saved papers positive and every
  other paper negative;
- embedding-centroid: cosine to the mean embedding of the saved papers;
- paperfeed, paperfeed-words, paperfeed-embeddings: `rank.content.score`, what the site serves,
  with both spaces, the reader's categories and the links' owners (rank/links.py: read from the
  abstracts, which the protocol keeps), words and categories, or embeddings alone (the
  word space counted on the same corpus, embeddings centered on its mean); the saved papers'
  authors' other papers (rank/related.py) are taken from the papers before the cutoff, as a
  site has them stored;
- paperfeed+not-interested: the same with DISLIKED papers marked "not interested", drawn at
  random from other readers' saved papers outside the reader's categories.
The corpus is what a site would have stored: every paper before the cutoff and the candidates.
Embedded are only the papers a method reads (candidates, saved and dismissed papers, and a
sample of CENTER_SAMPLE earlier papers whose mean centers the vectors), cached under
<home>/cache/eval, so only the first run embeds.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.core.progress import ProgressSink
from paperfeed.evals.harness import EvalDataMissing, VectorCache
from paperfeed.evals.metrics import mean
from paperfeed.rank import content, links, related
from paperfeed.rank.content import Candidates, Taste, WordSpace
from paperfeed.search.embedding import load_embedder, paper_text
from paperfeed.settings import Settings

MIN_HISTORY = 5
HISTORY = 20
WEEKS = 4
DISLIKED = 10
SEED = 11
CENTER_SAMPLE = 5000  # papers before the cutoff whose mean embedding centers the vectors


@dataclass(frozen=True)
class Record:
    id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    day: date


@dataclass
class Reader:
    name: str
    history: list[int]  # record indexes, oldest first
    relevant: set[int]
    disliked: list[int]


def read_snapshot(path: Path) -> list[Record]:
    """The snapshot's records (`.jsonl` or `.jsonl.gz`, the arXiv bulk-metadata field names)."""
    if not path.is_file():
        raise EvalDataMissing(f"no snapshot at {path}")
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            day = row.get("first_seen_date") or row.get("update_date")
            if not day or not row.get("title"):
                continue
            authors = row.get("authors_list") or [
                a.strip() for a in (row.get("authors") or "").split(",")
            ]
            records.append(
                Record(
                    row["id"], " ".join(row["title"].split()), " ".join(row["abstract"].split()),
                    tuple(a for a in authors if a), tuple((row.get("categories") or "").split()),
                    date.fromisoformat(day[:10]),
                )
            )  # fmt: skip
    return records


def readers(
    records: list[Record], cutoff: date, count: int, *, weeks: int = WEEKS, seed: int = SEED
) -> tuple[list[int], list[int], list[Reader]]:
    """(corpus before the cutoff, candidates, sampled readers) of the protocol."""
    end = cutoff + timedelta(weeks=weeks)
    before = [i for i, r in enumerate(records) if r.day < cutoff]
    candidates = [i for i, r in enumerate(records) if cutoff <= r.day < end]
    past: dict[str, list[int]] = defaultdict(list)
    future: dict[str, set[int]] = defaultdict(set)
    for i in before:
        for name in set(records[i].authors):
            past[name].append(i)
    for i in candidates:
        for name in set(records[i].authors):
            future[name].add(i)
    eligible = sorted(n for n, papers in past.items() if len(papers) >= MIN_HISTORY and n in future)
    rng = random.Random(seed)
    chosen = rng.sample(eligible, min(count, len(eligible)))
    sampled = []
    for name in chosen:
        history = sorted(past[name], key=lambda i: (records[i].day, records[i].id))[-HISTORY:]
        sampled.append(Reader(name, history, future[name], []))
    for reader in sampled:  # "not interested": other readers' papers outside this one's fields
        mine = {c for i in reader.history for c in records[i].categories[:1]}
        others = [
            i
            for other in sampled
            if other is not reader
            for i in other.history
            if not set(records[i].categories[:1]) & mine
        ]
        reader.disliked = rng.sample(others, min(DISLIKED, len(others)))
    return before, candidates, sampled


def run(
    settings: Settings,
    snapshot: Path,
    cutoff: date,
    *,
    count: int = 200,
    model: str = "static",
    weeks: int = WEEKS,
    seed: int = SEED,
    svm_cache: bool = False,
    progress: ProgressSink | None = None,
) -> dict[str, Any]:
    """Every method's figures on the same readers (see the module docstring).

    With `svm_cache`, the SVM's scores and times per reader are kept under <home>/cache/eval
    for this snapshot, cutoff, weeks, seed and sample size, and read back by the next such run
    (the SVM takes about a second a reader; its times are then those of the run that made them).
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    records = read_snapshot(snapshot)
    before, candidate_ids, sampled = readers(records, cutoff, count, weeks=weeks, seed=seed)
    if not sampled:
        raise EvalDataMissing(f"no reader has {MIN_HISTORY} papers before {cutoff} and one after")
    corpus = before + candidate_ids
    row_of = {index: row for row, index in enumerate(corpus)}
    texts = [content.paper_words(records[i].title, records[i].abstract) for i in corpus]
    asl = TfidfVectorizer(
        input="content", encoding="utf-8", decode_error="replace", strip_accents="unicode",
        lowercase=True, analyzer="word", stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", ngram_range=(1, 2), max_features=20000,
        norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True, max_df=0.1, min_df=5,
    )  # fmt: skip
    tfidf = sparse.csr_matrix(asl.fit_transform(texts))
    candidate_rows = np.asarray([row_of[i] for i in candidate_ids])
    tfidf_candidates = tfidf[candidate_rows]
    space = WordSpace.fit(texts)
    words = space.transform(texts)
    embedder = load_embedder(settings, model, "cpu")
    cache = VectorCache(settings.home / "cache" / "eval", embedder)
    raw, centered = corpus_vectors(cache, records, before, candidate_ids, sampled, seed, progress)
    candidates = candidates_of(records, candidate_ids, words, centered, candidate_rows)
    words_only = Candidates(candidates.ids, candidates.words, categories=candidates.categories)
    raw_candidates = raw[candidate_rows]
    by_author = authors_before(records, before)
    candidate_set = {records[i].id for i in candidate_ids}
    tastes = Tastes(records, corpus, row_of, words, centered, cutoff, by_author, candidate_set)
    taste = tastes.taste

    def svm_trained(reader: Reader) -> np.ndarray:
        labels = np.zeros(tfidf.shape[0])
        labels[[row_of[i] for i in reader.history]] = 1
        classifier = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.1)
        classifier.fit(tfidf, labels)
        return classifier.decision_function(tfidf_candidates)

    svm = _SvmCache(
        settings.home / "cache" / "eval" / "asl-svm"
        / f"{snapshot.name.split('.')[0]}_{cutoff}_{weeks}w_seed{seed}_{count}.npz",
        svm_trained, enabled=svm_cache,
    )  # fmt: skip

    def tfidf_centroid(reader: Reader) -> np.ndarray:
        mean_row = np.asarray(tfidf[[row_of[i] for i in reader.history]].mean(axis=0)).ravel()
        return np.asarray(tfidf_candidates @ mean_row).ravel()

    def embedding_centroid(reader: Reader) -> np.ndarray:
        return raw_candidates @ raw[[row_of[i] for i in reader.history]].mean(axis=0)

    generator = np.random.default_rng(seed)
    methods: dict[str, Callable[[Reader], np.ndarray]] = {
        "random": lambda reader: generator.random(len(candidate_ids)),
        "tfidf-centroid": tfidf_centroid,
        "asl-svm": svm.scores,
        "embedding-centroid": embedding_centroid,
        "paperfeed": lambda reader: content.score(candidates, taste(reader)).scores,
        "paperfeed-words": lambda reader: content.score(
            words_only, taste(reader, vectors=False)
        ).scores,
        "paperfeed-embeddings": _embeddings_only(candidates, taste),
        "paperfeed+not-interested": lambda reader: content.score(
            candidates, taste(reader, disliked=True)
        ).scores,
    }
    index_of = {i: position for position, i in enumerate(candidate_ids)}
    figures: dict[str, dict[str, list[float]]] = {
        name: defaultdict(list) for name in methods
    }
    if progress is not None:
        progress.start(f"ranking for {len(sampled)} readers", len(sampled))
    for reader in sampled:
        relevant = {index_of[i] for i in reader.relevant}
        for name, method in methods.items():
            started = time.perf_counter()
            scores = method(reader)
            elapsed = time.perf_counter() - started
            if method == svm.scores:
                elapsed = svm.seconds.get(reader.name, elapsed)
            for metric, value in _metrics(scores, relevant).items():
                figures[name][metric].append(value)
            figures[name]["ms"].append(1000 * elapsed)
        if progress is not None:
            progress.advance(1)
    svm.save()
    result: dict[str, Any] = {}
    for name, values in figures.items():
        result[name] = {
            "recall@20": mean(values["recall@20"]),
            "recall@50": mean(values["recall@50"]),
            "ndcg@20": mean(values["ndcg@20"]),
            "ms_p50": round(float(np.percentile(values["ms"], 50)), 2),
            "ms_p95": round(float(np.percentile(values["ms"], 95)), 2),
        }
    result["protocol"] = {
        "snapshot": str(snapshot),
        "cutoff": cutoff.isoformat(),
        "weeks": weeks,
        "readers": len(sampled),
        "candidates": len(candidate_ids),
        "corpus": len(corpus),
        "relevant_per_reader": round(sum(len(r.relevant) for r in sampled) / len(sampled), 2),
        "embeddings": embedder.name,
        "seed": seed,
        "svm_cached": svm.loaded,
    }
    return result


class _SvmCache:
    """The SVM's scores and seconds per reader, kept in a file when enabled (else computed)."""

    def __init__(
        self, path: Path, compute: Callable[[Reader], np.ndarray], *, enabled: bool
    ) -> None:
        self.path = path
        self.compute = compute
        self.enabled = enabled
        self.kept: dict[str, np.ndarray] = {}
        self.seconds: dict[str, float] = {}
        self.loaded = False
        if enabled and path.is_file():
            saved = np.load(path)
            names = saved["names"].tolist()
            self.kept = dict(zip(names, saved["scores"], strict=True))
            self.seconds = dict(zip(names, saved["seconds"].tolist(), strict=True))
            self.loaded = True

    def scores(self, reader: Reader) -> np.ndarray:
        kept = self.kept.get(reader.name)
        if kept is not None:
            return kept
        started = time.perf_counter()
        made = self.kept[reader.name] = self.compute(reader)
        self.seconds[reader.name] = time.perf_counter() - started
        return made

    def save(self) -> None:
        if not self.enabled or self.loaded or not self.kept:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(self.kept)
        partial = self.path.with_name(self.path.stem + ".partial.npz")
        np.savez_compressed(
            partial, names=np.asarray(names), scores=np.stack([self.kept[n] for n in names]),
            seconds=np.asarray([self.seconds[n] for n in names]),
        )  # fmt: skip
        partial.replace(self.path)


def corpus_vectors(
    cache: VectorCache,
    records: list[Record],
    before: list[int],
    candidate_ids: list[int],
    sampled: list[Reader],
    seed: int,
    progress: ProgressSink | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of the corpus rows (`before` then `candidate_ids`), zeros where no method
    reads one, and the same centered on the mean of a sample before the cutoff.

    Only what a method reads is embedded (kept in `cache`): the candidates, the
    readers' saved and dismissed papers, and that sample."""
    corpus = before + candidate_ids
    row_of = {index: row for row, index in enumerate(corpus)}
    needed = needed_rows(before, candidate_ids, sampled, row_of, seed)
    embedded = [paper_text(records[corpus[r]].title, records[corpus[r]].abstract) for r in needed]
    raw = np.zeros((len(corpus), cache.embedder.dim), dtype=np.float32)
    raw[needed] = cache.vectors(embedded, progress)
    sample = [r for r in needed if r < len(before)]
    return raw, content.center(raw, raw[sample].mean(axis=0))


@dataclass
class Tastes:
    """The protocol's readers as the recommender sees them: each one's liked papers (their words,
    vectors, recency, categories, links) and their authors' other papers, from one corpus."""

    records: list[Record]
    corpus: list[int]  # record indexes, one per row of `words` and `centered`
    row_of: dict[int, int]
    words: Any
    centered: np.ndarray
    cutoff: date
    by_author: dict[str, list[str]]
    candidate_set: set[str]

    def __post_init__(self) -> None:
        self.row_of_id = {self.records[i].id: row for i, row in self.row_of.items()}

    def taste(self, reader: Reader, *, vectors: bool = True, disliked: bool = False) -> Taste:
        records, row_of, words, centered = self.records, self.row_of, self.words, self.centered
        authored = self.by_author.__getitem__
        rows = [row_of[i] for i in reader.history]
        ages = [(self.cutoff - records[i].day).days for i in reader.history]
        made = Taste(
            liked=[records[i].id for i in reader.history],
            words=words[rows],
            weights=content.recency_weight(np.asarray(ages)),
            vectors=centered[rows] if vectors else None,
            categories=[records[i].categories for i in reader.history],
            owners=[links.owners(records[i].abstract) for i in reader.history],
        )
        given = [
            related.contributions(set(records[i].authors), authored, records[i].id)
            for i in reader.history[-related.FROM_LIKED :]  # oldest first here
        ]
        made.related = related.choose(given, self.candidate_set | set(made.liked))
        if made.related:
            around = [self.row_of_id[paper_id] for paper_id in made.related]
            made.related_words = words[around]
            made.related_owners = frozenset().union(
                *(links.owners(records[self.corpus[row]].abstract) for row in around)
            )
        if disliked and reader.disliked:
            negative = [row_of[i] for i in reader.disliked]
            made.disliked_words = words[negative]
            made.disliked_vectors = centered[negative] if vectors else None
        return made


def candidates_of(
    records: list[Record],
    candidate_ids: list[int],
    words: Any,
    centered: np.ndarray,
    candidate_rows: np.ndarray,
) -> Candidates:
    """The period's papers as the recommender scores them: word rows, centered vectors, fields,
    link owners."""
    return Candidates(
        ids=[records[i].id for i in candidate_ids],
        words=words[candidate_rows],
        vectors=centered[candidate_rows],
        has_vector=np.ones(len(candidate_ids), dtype=bool),
        categories=[records[i].categories for i in candidate_ids],
        owners=[links.owners(records[i].abstract) for i in candidate_ids],
    )


def authors_before(records: list[Record], before: list[int]) -> dict[str, list[str]]:
    """Each author's papers before the cutoff (what the site stores of the past), by name."""
    by_author: dict[str, list[str]] = defaultdict(list)
    for i in before:
        for name in set(records[i].authors):
            by_author[name].append(records[i].id)
    return by_author


def needed_rows(
    before: list[int], candidates: list[int], sampled: list[Reader], row_of: dict[int, int],
    seed: int,
) -> list[int]:
    """Corpus rows the eval embeds: candidates, saved and dismissed papers, a CENTER_SAMPLE."""
    rows = {row_of[i] for i in candidates}
    rows |= {row_of[i] for reader in sampled for i in (*reader.history, *reader.disliked)}
    rows |= {row_of[i] for i in random.Random(seed).sample(before, min(CENTER_SAMPLE, len(before)))}
    return sorted(rows)


def _embeddings_only(candidates: Candidates, taste: Callable[..., Taste]):
    """The content score with embeddings alone (words blanked out of both sides)."""
    from scipy import sparse

    blank = sparse.csr_matrix(candidates.words.shape, dtype=np.float32)
    only = Candidates(candidates.ids, blank, candidates.vectors, candidates.has_vector)  # no fields

    def scores(reader: Reader) -> np.ndarray:
        made = taste(reader)
        made.words = sparse.csr_matrix(made.words.shape, dtype=np.float32)
        if made.related_words is not None:
            made.related_words = sparse.csr_matrix(made.related_words.shape, dtype=np.float32)
        made.categories = None
        return content.score(only, made).scores

    return scores


def _metrics(scores: np.ndarray, relevant: set[int]) -> dict[str, float]:
    order = np.argsort(-scores, kind="stable")[:50]
    hits = [int(i) in relevant for i in order]
    dcg = sum(1 / math.log2(k + 2) for k, hit in enumerate(hits[:20]) if hit)
    ideal = sum(1 / math.log2(k + 2) for k in range(min(20, len(relevant))))
    return {
        "recall@20": sum(hits[:20]) / len(relevant),
        "recall@50": sum(hits) / len(relevant),
        "ndcg@20": dcg / ideal if ideal else 0.0,
    }
