"""Search and similar papers: BM25 and vector rankings fused into one, each hit with its reasons.

The web pages, the JSON API and the CLI call `search` and `similar`; both read whatever the
indexes hold right now: papers without a vector yet still come through BM25, and without any
vector index or query embedder the ranking is BM25 alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tantivy
from cachetools import LRUCache
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from tantivy import Occur, Query

from paperfeed.domain import (
    DailyEntry,
    InvalidArxivId,
    Paper,
    PaperNotFound,
    normalize_name,
    parse_arxiv_id,
)
from paperfeed.search import embedding, indexer, lexical
from paperfeed.search.fusion import DEFAULT, Fusion, fuse
from paperfeed.search.lexical import Filters
from paperfeed.search.similar_store import Ranked, SimilarStore
from paperfeed.search.vectors import ann
from paperfeed.settings import Settings
from paperfeed.store import reader
from paperfeed.store.models import AuthorRow
from paperfeed.store.paper_cache import CachedPapers, PaperCache
from paperfeed.store.reader import get_paper, load_papers

MAX_QUERY_CHARS = 2_000  # beyond this a query is cut (a pasted abstract still fits)
MAX_RESULTS = 100
# With filters, dense scores are computed exactly over every allowed paper up to this many;
# beyond it the nearest neighbours are fetched wide and then filtered.
EXACT_FILTER_LIMIT = 20_000
WIDE_NEIGHBOURS = 2_000
# Pseudo-relevance feedback for short queries and questions (feedback_for), chosen on all the
# evals: the nl-queries keyword queries gain most, questions gain, descriptions and
# query-by-paper lose, so they get none.
SHORT_QUERY_WORDS = 4
FEEDBACK_PAPERS = 5
FEEDBACK_WEIGHT = 1.0
# Method names and acronyms ("LoRA", "GPT-4o", "3DGS": see is_name_query) are words, and the
# vectors add noise there: they get more weight on BM25 (chosen on all four evals: README).
NAME_LEXICAL_WEIGHT = 0.5  # equal weights; feedback as for any short query
QUERY_CACHE = 1_024  # query vectors kept, so paging through results embeds once
# Similar papers kept per paper on disk (similar_store): a paper page lists 8, the API 10 unless
# asked for more (more are ranked again).
STORED_SIMILAR = 20


@dataclass(frozen=True)
class Why:
    """Why a paper is in the results: the query words it contains, its semantic similarity."""

    matched: tuple[str, ...] = ()
    semantic: float | None = None
    exact: str | None = None  # "arXiv id", "title" or "author" when the query named it

    def __str__(self) -> str:
        parts = []
        if self.exact:
            parts.append(f"exact {self.exact}")
        if self.matched:
            parts.append("matched: " + ", ".join(self.matched))
        if self.semantic is not None:
            parts.append(f"semantic {self.semantic:.2f}")
        return " · ".join(parts) or "filters only"


@dataclass(frozen=True)
class Hit:
    paper: Paper
    score: float
    why: Why


@dataclass
class SearchResult:
    """One page of results for a query, best first."""

    query: str
    hits: list[Hit] = field(default_factory=list)
    dense: bool = False  # whether vectors took part in the ranking
    model: str | None = None  # whose vectors: the fast tier's until the configured one covers all
    # each hit's first daily listing, for those featured (when `search` was asked for them)
    listings: dict[str, DailyEntry] = field(default_factory=dict)


class SearchIndexes:
    """The live indexes of one data folder, reopened when a rebuild swaps in a new generation."""

    def __init__(self, settings: Settings, papers: PaperCache | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._lexical: tuple[Path, tantivy.Index] | None = None
        self._lexical_commit: tuple[int, int, int] | None = None  # meta.json at the last reload
        self._vectors: dict[str, tuple[Path, ann.VectorIndex | None]] = {}  # by model
        # recent queries (next pages, reloads), by model and text
        self._query_vectors: dict[tuple[str, str], np.ndarray] = {}
        # similar papers' rankings, by paper and index state (a paper page asks on every view):
        # the node's workers share them on disk, and each keeps the recent ones in memory
        self.similar_store = SimilarStore(indexer.index_dir(settings))
        self.similar_rankings: LRUCache[tuple, Ranked] = LRUCache(maxsize=20_000)
        self._lexical_stamp: tuple[Path, int, int, str] | None = None
        # the stored papers that hits show, kept while the site version stands (the web app
        # shares its database's cache)
        self.papers = papers if papers is not None else PaperCache()

    def state(self, vector_index: ann.VectorIndex | None) -> str | None:
        """The state of the indexes a ranking depends on: the lexical index's last commit and
        segments (each segment's id is new when it is written), the vector index's model and
        contents (None: no lexical index yet). A copy of the folder has the same state.

        Read before the lexical index is reopened for a search: a commit in between gives a
        ranking of the newer contents under the older state, never the reverse."""
        path = indexer.lexical_path(self.settings)
        try:
            target = path.resolve(strict=True)
            meta = target / "meta.json"
            stat = meta.stat()
            with self._lock:
                stamp = self._lexical_stamp
            if stamp is None or stamp[:3] != (target, stat.st_mtime_ns, stat.st_size):
                found = json.loads(meta.read_text())
                segments = json.dumps(found["segments"], sort_keys=True).encode()
                digest = hashlib.blake2b(segments, digest_size=8).hexdigest()
                stamp = (target, stat.st_mtime_ns, stat.st_size, f"{found['opstamp']}:{digest}")
                with self._lock:
                    self._lexical_stamp = stamp
        except (OSError, ValueError, KeyError):
            return None
        vectors = (
            f"{vector_index.model}@{vector_index.marker}#{len(vector_index)}"
            if vector_index is not None
            else "-"
        )
        return f"{stamp[3]}|{vectors}"

    def lexical(self) -> tantivy.Index | None:
        target = _live_target(indexer.lexical_path(self.settings))
        if target is None:
            return None
        with self._lock:
            if self._lexical is None or self._lexical[0] != target:
                if not lexical.schema_matches(target):
                    return None  # built by an older version: the indexer rebuilds it
                self._lexical = (target, lexical.open_index(target))
                self._lexical_commit = None
            index = self._lexical[1]
            seen = self._lexical_commit
        # See the latest commit now, not after the file watcher's delay: a commit rewrites
        # meta.json, so a reload is due only when that file changed (a reload costs 50 us).
        try:
            meta = (target / "meta.json").stat()
        except OSError:  # the generation is gone (a link left dangling by hand)
            return None
        commit = (meta.st_ino, meta.st_mtime_ns, meta.st_size)
        if commit != seen:
            index.reload()
            with self._lock:
                if self._lexical is not None and self._lexical[1] is index:
                    self._lexical_commit = commit
        return index

    def vectors(self) -> ann.VectorIndex | None:
        """The vector index search answers from: the configured model's once it covers every
        indexed paper, else the fast tier's while it covers more (embedding.answering_model)."""
        if embedding.dense_model(self.settings) is None:
            return None
        found = {m: self._vectors_of(m) for m in embedding.tier_models(self.settings)}
        present = {m: index for m, index in found.items() if index is not None}
        if len(present) < 2:
            return next(iter(present.values()), None)
        lexical_index = self.lexical()
        papers = lexical_index.searcher().num_docs if lexical_index is not None else 0
        covered = {m: len(index) for m, index in present.items()}
        return present[embedding.answering_model(list(present), covered, papers)]

    def _vectors_of(self, model: str) -> ann.VectorIndex | None:
        target = _live_target(indexer.vectors_path(self.settings, model))
        if target is None:
            return None
        with self._lock:
            loaded = self._vectors.get(model)
            if loaded is None or loaded[0] != target:
                loaded = (target, ann.load(target))
                self._vectors[model] = loaded
            return loaded[1]

    def embed_query(self, text: str, model: str | None = None) -> np.ndarray | None:
        """The query's vector in the space of `model` (default: the configured model)."""
        embedder = embedding.query_embedder(self.settings, model)
        if embedder is None:
            return None
        key = (embedder.name, text)
        with self._lock:
            cached = self._query_vectors.get(key)
        if cached is None:
            cached = embedder.embed([text])[0]  # the slowest step of a query on a CPU
            with self._lock:
                self._query_vectors[key] = cached
                if len(self._query_vectors) > QUERY_CACHE:  # forget the oldest
                    self._query_vectors.pop(next(iter(self._query_vectors)))
        return cached


def _live_target(path: Path) -> Path | None:
    """The generation a live index symlink points at (None: no index there yet). One readlink,
    where resolving the path walked each of its folders: this runs several times a search."""
    try:
        return path.parent / os.readlink(path)
    except FileNotFoundError:
        return None
    except OSError:  # not a symlink (a folder put there by hand, a copy): the path itself
        return path if path.exists() else None


def search(
    session: Session,
    indexes: SearchIndexes,
    query: str,
    *,
    filters: Filters | None = None,
    limit: int = 20,
    offset: int = 0,
    fusion: Fusion = DEFAULT,
    listings: bool = False,
) -> SearchResult:
    """Papers for a free-text query, an arXiv id or URL, or an author's name, within the filters;
    with `listings`, each hit's first daily listing too (read with the papers)."""
    filters = filters or Filters()
    text = " ".join(lexical.clean_text(query).split())[:MAX_QUERY_CHARS]
    result = SearchResult(query=text)
    limit = max(0, min(limit, MAX_RESULTS))
    offset = max(0, offset)
    if (not text and not filters) or not limit:
        return result
    named = _paper_named_by(session, text)
    if named is not None:
        if lexical_allows(indexes, named.arxiv_id, filters) and offset == 0:
            result.hits.append(Hit(named, 1.0, Why(exact="arXiv id")))
            if listings:
                result.listings = reader.first_listings(session, [named])
        return result
    index = indexes.lexical()
    if index is None:
        return result
    exact_author = _is_author(session, text)
    text_query, terms = lexical.text_query(text, exact_author=exact_author)
    depth = max(fusion.depth, offset + limit)
    if text_query is None:  # nothing searchable in the text: the filters alone, newest first
        filtered = lexical.combine(None, filters)
        if filtered is None:
            return result
        ranked = lexical.search(index, filtered, offset + limit, newest_first=True)
        return _page(
            indexes.papers.at(session), index, result, ranked, offset=offset, limit=limit,
            terms=terms, listings=listings,
        )  # fmt: skip
    query_vector = None
    vector_index = indexes.vectors()
    if vector_index is not None and len(vector_index) and not exact_author:
        query_vector = indexes.embed_query(text, vector_index.model)
    fusion, feedback = route(text, fusion)
    ranking = rank(
        index, vector_index, text_query, query_vector, filters, depth, fusion, feedback=feedback
    )
    ranked, ranked_lexical, dense = ranking.fused, ranking.lexical, ranking.dense
    result.dense = bool(dense)
    result.model = vector_index.model if dense and vector_index is not None else None
    stored = indexes.papers.at(session)
    pinned = _exact_titles(index, stored, ranked_lexical[:10], terms)
    ranked = [(i, s) for i, s in ranked if i in pinned] + [
        (i, s) for i, s in ranked if i not in pinned
    ]
    return _page(
        stored, index, result, ranked, offset=offset, limit=limit, terms=terms,
        semantic=dict(dense),
        query_vector=query_vector, vector_index=vector_index, pinned=pinned,
        exact_author=exact_author, listings=listings,
    )  # fmt: skip


@dataclass
class Ranking:
    """The BM25 ranking, the dense one (with exact scores of BM25 candidates) and their fusion."""

    lexical: list[tuple[str, float]]
    dense: list[tuple[str, float]]
    fused: list[tuple[str, float]]


def rank(
    index: tantivy.Index,
    vector_index: ann.VectorIndex | None,
    text_query: tantivy.Query | None,
    query_vector: np.ndarray | None,
    filters: Filters,
    depth: int,
    fusion: Fusion = DEFAULT,
    *,
    within: Sequence[str] | None = None,
    without: str | None = None,
    feedback: int = 0,
) -> Ranking:
    """The ranking core of `search` and `similar`, without the store: ids and scores only.

    `within` ranks only these papers (the evals rank judged pools); `without` leaves one paper
    out (the paper whose similar papers are asked for); `feedback` (see feedback_for) re-ranks
    with the query's vector expanded by the first papers of the fusion, whose `dense` stays the
    plain query's. bench/ times this; evals/ measure it.
    """
    ranked_lexical: list[tuple[str, float]] = []
    if text_query is not None:
        if within is not None:
            text_query = Query.boolean_query(
                [(Occur.Must, text_query), (Occur.Must, lexical.id_query(within))]
            )
        query = lexical.combine(text_query, filters)
        ranked_lexical = lexical.search(index, query, depth) if query is not None else []
    if vector_index is None or query_vector is None:
        return Ranking(ranked_lexical, [], ranked_lexical)

    def dense_for(vector: np.ndarray) -> list[tuple[str, float]]:
        assert vector_index is not None
        if within is not None:
            found = vector_index.score_ids(vector, [i for i in within if i != without])
        else:
            found = _dense(index, vector_index, vector, filters, depth + (without is not None))
            found = [(i, s) for i, s in found if i != without]
        if not found:
            return []
        return _with_lexical_candidates(vector_index, vector, found, ranked_lexical)

    dense = dense_for(query_vector)
    if not dense:
        return Ranking(ranked_lexical, [], ranked_lexical)
    fused = fuse(ranked_lexical, dense, fusion, vector_index.has_vector)
    if feedback:
        expanded = _feedback_vector(vector_index, query_vector, [i for i, _ in fused[:feedback]])
        if expanded is not None:  # the first paper stays first: the query named it best
            first = fused[0]
            again = fuse(ranked_lexical, dense_for(expanded), fusion, vector_index.has_vector)
            fused = [first] + [item for item in again if item[0] != first[0]]
    return Ranking(ranked_lexical, dense, fused)


def feedback_for(text: str) -> int:
    """How many top papers expand the query's vector: FEEDBACK_PAPERS for a few words or a
    question (is_question), else 0.

    A query of a few words ("speculative decoding", "graph transformers") says little for a
    vector to go on; the papers fusion puts first say more. Their mean vector, added to the
    query's, re-ranks the dense side (pseudo-relevance feedback, Rocchio-style) below the first
    paper, which stays first (a system's name finds its paper before any feedback). A question
    names its topic in a few words among asking words ("how can", "do ... actually"), and gains
    from the same feedback; other sentences (descriptions of an idea) and whole papers already
    carry their meaning, and feedback drifts them off it, so they get none.
    """
    return FEEDBACK_PAPERS if len(text.split()) <= SHORT_QUERY_WORDS or is_question(text) else 0


def is_question(text: str) -> bool:
    """Whether the query is a question: more than one word, ending in a question mark or
    starting with an asking word ("how", "what", "can", "do", "is", ...)."""
    words = text.split()
    if len(words) < 2:
        return False
    return text.rstrip().endswith("?") or _EDGES.sub("", words[0]).lower() in _ASKING


_ASKING = frozenset(
    ("how", "what", "why", "when", "where", "which", "who", "whom", "whose", "can", "could", "do",
     "does", "did", "is", "are", "was", "were", "should", "would", "will", "shall", "may",
     "might", "has", "have", "had")
)  # fmt: skip


def route(text: str, fusion: Fusion = DEFAULT) -> tuple[Fusion, int]:
    """The fusion and the feedback a search query gets, by its shape: feedback for a few words
    or a question (feedback_for); NAME_LEXICAL_WEIGHT on BM25 instead of the default fusion's
    for a method's name or an acronym alone (is_name_query); any other query the fusion asked
    for. A fusion other than DEFAULT (an experiment, an eval's grid) is kept, routed or not.
    """
    if fusion == DEFAULT and is_name_query(text):
        weight = NAME_LEXICAL_WEIGHT
        fusion = replace(DEFAULT, lexical_weight=weight, dense_weight=1.0 - weight)
    return fusion, feedback_for(text)


def is_name_query(text: str) -> bool:
    """Whether the query looks like a method's or a model's name: one word, name-shaped
    (name_shaped: "LoRA", "DPO", "GPT-4o", "Mamba-2", "ControlNet").

    Decided from how such names are written, not from any eval's queries: names are coined,
    and their coiners mark them with capitals inside the word or with a version number.
    Ordinary words, hyphenated compounds ("self-supervised") and capitalized words ("Mamba",
    "Transformers") look like keywords, so they are not routed. Nor are two words: of the
    two-word AI keywords of Hugging Face's 2025 daily papers with a name-shaped word, about half
    are topics around a common acronym ("LLM reasoning", "GUI grounding", "medical LLMs"),
    which the dense side serves as it serves keywords; of the one-word ones nearly all are names.
    """
    words = text.split()
    return len(words) == 1 and name_shaped(words[0])


def name_shaped(word: str) -> bool:
    """Letters and digits together ("3DGS", "T5", "Mamba-2", "GPT-4o"; not a quantity such as
    "3D", "4K" or "7B"), or a capital after the first letter of the word or of one of its
    hyphenated parts (an acronym or a camel-cased name: "DPO", "LoRA", "ViT", "ControlNet",
    "Reflect-DiT"; not a title-cased compound such as "Cold-Start")."""
    word = _EDGES.sub("", word)
    if not any(ch.isalpha() for ch in word) or _QUANTITY.fullmatch(word):
        return False
    if any(ch.isdigit() for ch in word):
        return True
    return any(ch.isupper() for part in _PARTS.split(word) for ch in part[1:])


_EDGES = re.compile(r"^\W+|\W+$")  # quotes, brackets, commas, stops around a word
_QUANTITY = re.compile(r"\d+[^\W\d_]")  # a number and one letter: 3D, 4K, 7B
_PARTS = re.compile(r"[-_/]")


def _feedback_vector(
    vector_index: ann.VectorIndex, query_vector: np.ndarray, top: list[str]
) -> np.ndarray | None:
    rows = [row for row in map(vector_index.row_of, top) if row is not None]
    if not rows:
        return None
    centroid = np.asarray(vector_index.vectors[rows], dtype=np.float32).mean(axis=0)
    expanded = np.asarray(query_vector, dtype=np.float32).reshape(-1) + FEEDBACK_WEIGHT * centroid
    norm = float(np.linalg.norm(expanded))
    return (expanded / norm).astype(np.float32) if norm > 0 else None


@dataclass(frozen=True)
class SimilarLink:
    """A similar paper as a page lists it: its id, title and cosine to the paper (if known)."""

    arxiv_id: str
    title: str
    semantic: float | None


@dataclass(frozen=True)
class _SimilarRanking:
    ranked: list[tuple[str, float]]
    semantic: dict[str, float]
    vector: np.ndarray | None
    vector_index: ann.VectorIndex | None
    index: tantivy.Index


def similar(
    session: Session,
    indexes: SearchIndexes,
    arxiv_id: str,
    *,
    limit: int = 10,
    fusion: Fusion = DEFAULT,
    paper: Paper | None = None,
) -> list[Hit]:
    """Papers most like the stored paper `arxiv_id`: its vector's neighbours fused with BM25
    on its title and abstract (BM25 alone while the paper has no vector). A caller that has
    just loaded the paper passes it as `paper`."""
    paper = _stored(session, arxiv_id, paper)
    found = _similar_ranking(indexes, paper, limit, fusion)
    if found is None:
        return []
    papers, _listings = indexes.papers.at(session).papers([i for i, _ in found.ranked])
    terms = lexical.query_terms(paper.title)
    words = lexical.words_found(found.index, [i for i, _ in found.ranked], terms, authors=False)
    hits = []
    for paper_id, score in found.ranked:
        other = papers.get(paper_id)
        if other is None:  # indexed but since removed from the store
            continue
        score_dense = _semantic(paper_id, found.semantic, found.vector, found.vector_index)
        matched = tuple(words[paper_id])
        hits.append(Hit(other, score, Why(matched=matched, semantic=score_dense)))
    return hits


def similar_links(
    session: Session,
    indexes: SearchIndexes,
    arxiv_id: str,
    *,
    limit: int = 10,
    fusion: Fusion = DEFAULT,
    paper: Paper | None = None,
) -> list[SimilarLink]:
    """The papers of `similar`, in the same order, as a paper page lists them: titles and
    cosines only (no whole records, no matched words: the page shows neither)."""
    paper = _stored(session, arxiv_id, paper)
    found = _similar_ranking(indexes, paper, limit, fusion)
    if found is None:
        return []
    titles = indexes.papers.at(session).titles([i for i, _ in found.ranked])
    return [
        SimilarLink(
            paper_id,
            titles[paper_id],
            _semantic(paper_id, found.semantic, found.vector, found.vector_index),
        )
        for paper_id, _score in found.ranked
        if paper_id in titles  # an indexed paper since removed from the store is left out
    ]


def _stored(session: Session, arxiv_id: str, paper: Paper | None) -> Paper:
    if paper is None or paper.arxiv_id != arxiv_id:
        paper = get_paper(session, arxiv_id)
    if paper is None:
        raise PaperNotFound(arxiv_id)
    return paper


def _similar_ranking(
    indexes: SearchIndexes, paper: Paper, limit: int, fusion: Fusion
) -> _SimilarRanking | None:
    """The first `limit` of the ranking of `similar` (None: no index yet), worked out once per
    paper and index state: kept in memory, and on disk for the node's other workers (the
    default fusion, up to STORED_SIMILAR papers; `paperfeed index --similar` fills it)."""
    arxiv_id = paper.arxiv_id
    limit = max(0, min(limit, MAX_RESULTS))
    vector_index = indexes.vectors()
    state = indexes.state(vector_index)
    index = indexes.lexical()
    if index is None:
        return None
    vector = vector_index.vector_of(arxiv_id) if vector_index is not None else None
    shared = fusion == DEFAULT and limit <= STORED_SIMILAR and state is not None
    depth = STORED_SIMILAR if shared else MAX_RESULTS
    # Without a state (an index being swapped), the index object and its size stand in.
    key = (arxiv_id, fusion, depth, state or (id(index), index.searcher().num_docs))
    with indexes._lock:
        ranked = indexes.similar_rankings.get(key)
    if ranked is None and shared:
        assert state is not None
        ranked = indexes.similar_store.get(arxiv_id, state)
    if ranked is None:
        ranked = rank_similar(index, vector_index, paper, fusion, depth)
        if shared:
            assert state is not None
            indexes.similar_store.put({arxiv_id: ranked}, state)
    with indexes._lock:
        indexes.similar_rankings[key] = ranked
    top = ranked[:limit]
    semantic = {paper_id: cosine for paper_id, _, cosine in top if cosine is not None}
    return _SimilarRanking(
        [(paper_id, score) for paper_id, score, _ in top], semantic, vector, vector_index, index
    )


def rank_similar(
    index: tantivy.Index,
    vector_index: ann.VectorIndex | None,
    paper: Paper,
    fusion: Fusion = DEFAULT,
    depth: int = MAX_RESULTS,
) -> Ranked:
    """The first `depth` papers like `paper`, each with its fused score and its cosine from the
    dense ranking (None where that ranking had none)."""
    vector = vector_index.vector_of(paper.arxiv_id) if vector_index is not None else None
    ranking = rank(
        index, vector_index, lexical.similar_query(paper), vector, Filters(), fusion.depth,
        fusion, without=paper.arxiv_id,
    )  # fmt: skip
    dense = dict(ranking.dense)
    fused = [(i, s) for i, s in ranking.fused if i != paper.arxiv_id][:depth]
    return [(i, s, dense.get(i)) for i, s in fused]


def fill_similar(
    session: Session, indexes: SearchIndexes, ids: Sequence[str], *, batch: int = 200
) -> int:
    """Work out and keep the similar papers of these papers at the indexes' current state, for
    those that have none kept at it; how many were worked out."""
    vector_index = indexes.vectors()
    state = indexes.state(vector_index)
    index = indexes.lexical()
    if index is None or state is None:
        return 0
    done = 0
    for start in range(0, len(ids), batch):
        kept = indexes.similar_store.get
        chunk = [i for i in ids[start : start + batch] if kept(i, state) is None]
        papers = load_papers(session, chunk)
        rankings = {
            paper_id: rank_similar(index, vector_index, papers[paper_id], DEFAULT, STORED_SIMILAR)
            for paper_id in chunk
            if paper_id in papers
        }
        indexes.similar_store.put(rankings, state)
        done += len(rankings)
    return done


def first_listings(session: Session, papers: list[Paper]) -> dict[str, DailyEntry]:
    """Each paper's first daily listing, for those that were featured."""
    return reader.first_listings(session, papers)


def lexical_allows(indexes: SearchIndexes, arxiv_id: str, filters: Filters) -> bool:
    """Whether the filters let this paper through (no filters: always)."""
    if not filters:
        return True
    index = indexes.lexical()
    return index is not None and arxiv_id in lexical.ids_among(index, [arxiv_id], filters)


def _dense(
    index: tantivy.Index,
    vector_index: ann.VectorIndex,
    query_vector: np.ndarray,
    filters: Filters,
    depth: int,
) -> list[tuple[str, float]]:
    restriction = lexical.combine(None, filters)
    if restriction is None:
        return vector_index.search(query_vector, depth)
    keys, count = lexical.matching_keys(index, restriction, EXACT_FILTER_LIMIT)
    if count <= EXACT_FILTER_LIMIT:
        return vector_index.score_rows(query_vector, vector_index.rows_of_keys(keys), depth)
    wide = vector_index.search(query_vector, WIDE_NEIGHBOURS)
    allowed = lexical.ids_among(index, [i for i, _ in wide], filters)
    return [(i, s) for i, s in wide if i in allowed][:depth]


def _with_lexical_candidates(
    vector_index: ann.VectorIndex,
    query_vector: np.ndarray,
    dense: list[tuple[str, float]],
    lexical_hits: list[tuple[str, float]],
) -> list[tuple[str, float]]:
    """The dense ranking plus exact scores of the BM25 candidates it missed (that have vectors)."""
    have = {paper_id for paper_id, _ in dense}
    missing = [paper_id for paper_id, _ in lexical_hits if paper_id not in have]
    return dense + vector_index.score_ids(query_vector, missing)


def _paper_named_by(session: Session, text: str) -> Paper | None:
    """The stored paper when the query is an arXiv id or abs/pdf URL."""
    if not text or len(text) > 200 or " " in text:
        return None
    try:
        arxiv_id, _version = parse_arxiv_id(text)
    except InvalidArxivId:
        return None
    return get_paper(session, arxiv_id)


def _is_author(session: Session, text: str) -> bool:
    """Whether the query is exactly a stored author's name (accents, case, spaces aside)."""
    if not text or len(text) > 200 or len(text.split()) > 6:
        return False
    found = session.scalar(_AUTHOR_NAMED, {"key": normalize_name(text)})
    return found is not None


# built once (a statement built per call is walked again to find its compiled form)
_AUTHOR_NAMED = select(AuthorRow.id).where(AuthorRow.name_key == bindparam("key")).limit(1)


def _exact_titles(
    index: tantivy.Index,
    stored: CachedPapers,
    candidates: list[tuple[str, float]],
    terms: dict[str, str],
) -> set[str]:
    """Of the best BM25 hits, those whose title is the query (same words, stemmed): the index
    names the few whose title holds every word, and only their titles are read and compared."""
    if len(terms) < 2:
        return set()
    wanted = list(terms)
    holding = lexical.titles_with_all(index, [i for i, _ in candidates], wanted)
    titles = stored.titles(sorted(holding))
    return {
        paper_id
        for paper_id, title in titles.items()
        if list(dict.fromkeys(lexical.analyze(title))) == wanted
    }


def _page(
    stored: CachedPapers,
    index: tantivy.Index,
    result: SearchResult,
    ranked: list[tuple[str, float]],
    *,
    offset: int,
    limit: int,
    terms: dict[str, str],
    semantic: dict[str, float] | None = None,
    query_vector: np.ndarray | None = None,
    vector_index: ann.VectorIndex | None = None,
    pinned: set[str] | frozenset[str] = frozenset(),
    exact_author: bool = False,
    listings: bool = False,
) -> SearchResult:
    """Fill `result` with the hits of one page of `ranked`, each with its reasons (and, with
    `listings`, their first daily listings), the papers from the cache of stored papers."""
    window = ranked[offset : offset + limit]
    papers, first = stored.papers([i for i, _ in window])
    if listings:
        result.listings = first
    words = lexical.words_found(index, [i for i, _ in window], terms)
    for paper_id, score in window:
        paper = papers.get(paper_id)
        if paper is None:  # indexed but since removed from the store
            continue
        score_dense = _semantic(paper_id, semantic or {}, query_vector, vector_index)
        exact = "title" if paper_id in pinned else None
        if exact_author and _has_author(paper, result.query):
            exact = "author"
        why = Why(tuple(words[paper_id]), score_dense, exact)
        result.hits.append(Hit(paper, score, why))
    return result


def _semantic(
    paper_id: str,
    semantic: dict[str, float],
    query_vector: np.ndarray | None,
    vector_index: ann.VectorIndex | None,
) -> float | None:
    """A hit's cosine to the query: from the dense ranking, else computed from its vector."""
    score = semantic.get(paper_id)
    if score is None and query_vector is not None and vector_index is not None:
        vector = vector_index.vector_of(paper_id)
        score = float(vector @ query_vector) if vector is not None else None
    return score


def _has_author(paper: Paper, name: str) -> bool:
    key = normalize_name(name)
    return any(normalize_name(author.name) == key for author in paper.authors)
