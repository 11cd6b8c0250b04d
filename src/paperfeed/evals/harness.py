"""An eval corpus ranked the way the site ranks: an in-memory BM25 index with the product's schema
and analyzers, the documents' vectors (cached on disk), and `search.service.rank` over both."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tantivy

from paperfeed.core.errors import NotFound
from paperfeed.core.progress import ProgressSink
from paperfeed.domain import Paper
from paperfeed.evals.metrics import Ranking
from paperfeed.search import lexical
from paperfeed.search.embedding import Embedder, load_embedder, paper_text, text_hash
from paperfeed.search.fusion import DEFAULT, Fusion
from paperfeed.search.lexical import Filters
from paperfeed.search.service import rank
from paperfeed.search.vectors.ann import VectorIndex
from paperfeed.settings import Settings

METHODS = ("bm25", "dense", "hybrid")


class EvalDataMissing(NotFound, FileNotFoundError):
    """The eval's input files are not where they were looked for."""


@dataclass(frozen=True)
class Doc:
    """One document of an eval corpus."""

    id: str
    title: str
    abstract: str
    # Hugging Face's AI summary and keywords of a daily paper, indexed as the site indexes them
    # (lexical.document); never embedded (the site embeds title and abstract only)
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] | None = None

    @property
    def text(self) -> str:
        """What is embedded for it: the same text the site embeds for a paper."""
        return paper_text(self.title, self.abstract)

    def paper(self) -> Paper:
        return Paper(
            arxiv_id=self.id, title=self.title, abstract=self.abstract, ai_summary=self.ai_summary,
            ai_keywords=list(self.ai_keywords) if self.ai_keywords is not None else None,
        )  # fmt: skip


class VectorCache:
    """Vectors of eval texts on disk, keyed by the text's hash; missing ones are embedded once."""

    def __init__(
        self, directory: Path, embedder: Embedder, query_embedder: Embedder | None = None
    ) -> None:
        self.embedder = embedder
        self.query_embedder = query_embedder or embedder
        self.path = directory / f"{_slug(embedder.name)}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            saved = np.load(self.path)
            self._vectors = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))

    def vectors(self, texts: Sequence[str], progress: ProgressSink | None = None) -> np.ndarray:
        keys = [text_hash(text) for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            by_key = {text_hash(text): text for text in texts}
            if progress:
                progress.start(f"embedding {len(missing)} eval texts", len(missing))
            for start in range(0, len(missing), 256):  # save as it goes: a long run resumes
                chunk = missing[start : start + 256]
                embedded = self.embedder.embed([by_key[k] for k in chunk], progress=progress)
                self._vectors.update(zip(chunk, embedded, strict=True))
                self._save()
        return np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0))

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries as the site embeds them (MiniLM's graph for queries, with
        8-bit weights: see embedding.onnx.ensure_query_model); not kept on disk."""
        return self.query_embedder.embed(list(texts))

    def _save(self) -> None:
        """Write the whole cache to a scratch file of this writer's own, then rename it into
        place: readers see the old file or the new one, and two writers sharing a home (two
        eval runs) never replace each other's half-written file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        with tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".partial.npz", delete=False
        ) as scratch:
            try:
                np.savez(scratch, keys=np.asarray(keys),
                         vectors=np.stack([self._vectors[k] for k in keys]))  # fmt: skip
            except BaseException:
                Path(scratch.name).unlink(missing_ok=True)
                raise
        Path(scratch.name).replace(self.path)


class EvalCorpus:
    """Documents indexed as the site indexes papers, with their vectors when a model is given."""

    def __init__(self, docs: Sequence[Doc], vectors: np.ndarray | None = None, model: str = ""):
        self.index = lexical.memory_index(doc.paper() for doc in docs)
        self.vector_index: VectorIndex | None = None
        if vectors is not None and len(docs):
            ids = [doc.id for doc in docs]
            self.vector_index = VectorIndex(
                model=model,
                ids=np.asarray(ids, dtype=str),
                keys=np.asarray([lexical.paper_key(i) for i in ids], dtype=np.int64),
                vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                ivf=None,
                marker="",
            )

    def rankings(
        self,
        text_query: tantivy.Query | None,
        query_vector: np.ndarray | None,
        *,
        depth: int,
        fusion: Fusion = DEFAULT,
        within: Sequence[str] | None = None,
        feedback: int = 0,
    ) -> dict[str, Ranking]:
        """BM25, dense and hybrid rankings of one query by `search.service.rank`.

        Dense and hybrid only with vectors (the corpus's and the query's).
        """
        vector_index = self.vector_index if query_vector is not None else None
        ranking = rank(
            self.index, vector_index, text_query, query_vector, Filters(), depth, fusion,
            within=within, feedback=feedback,
        )  # fmt: skip
        out = {"bm25": _ids(ranking.lexical)}
        if vector_index is not None:
            dense = sorted(ranking.dense, key=lambda item: item[1], reverse=True)
            out["dense"] = _ids(dense if within is not None else dense[:depth])
            out["hybrid"] = _ids(ranking.fused)
        return out


def caches(settings: Settings, kinds: Sequence[str]) -> list[tuple[str, VectorCache]]:
    """A vector cache for each embedding model in `kinds`, under <home>/cache/eval/."""
    directory = settings.home / "cache" / "eval"
    return [
        (
            kind,
            VectorCache(
                directory,
                load_embedder(settings, kind, "cpu"),
                load_embedder(settings, kind, "cpu", for_queries=True),
            ),
        )
        for kind in kinds
    ]


def complete(ranking: Ranking, pool: Sequence[str]) -> Ranking:
    """The ranking followed by the pool's unranked documents (in pool order)."""
    seen = set(ranking)
    return list(ranking) + [d for d in pool if d not in seen]


def _ids(scored: Sequence[tuple[str, float]]) -> Ranking:
    return [paper_id for paper_id, _ in scored]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
