"""Reference rankers every eval prints beside paperfeed's: stock BM25 (bm25s) and plain RRF.

Stock BM25 is what a ten-line script gets: bm25s ("lucene", k1 = 1.5, b = 0.75) over title and
abstract as one text, English stop words, the Snowball English stemmer, no field boosts. It is an
eval dependency (`pip install -e .[dev]`), never used by the site.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from paperfeed.evals.harness import Doc, EvalDataMissing
from paperfeed.evals.metrics import Ranking

RRF_K = 60


class StockBM25:
    """bm25s over `docs`; `rank` returns ids best first, papers with no query word left out."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        try:
            import bm25s
            import Stemmer
        except ImportError as error:  # an eval-only dependency
            raise EvalDataMissing(
                "the stock BM25 baseline needs bm25s and PyStemmer"
                f" (pip install -e .[dev]): {error}"
            ) from None
        # bm25s sets its logger to DEBUG on import and logs each index build: quiet it.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self.ids = [d.id for d in docs]
        self._row = {d: i for i, d in enumerate(self.ids)}
        tokens = bm25s.tokenize(
            [f"{d.title} {d.abstract}" for d in docs], stopwords="en", stemmer=self._stemmer,
            show_progress=False,
        )  # fmt: skip
        self.retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        self.retriever.index(tokens, show_progress=False)

    def scores(self, text: str) -> np.ndarray:
        """The BM25 score of every doc (in `ids` order) for `text`."""
        tokens = self._bm25s.tokenize(
            [text], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False
        )
        words = [w for w in tokens[0] if w in self.retriever.vocab_dict]
        if not words:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(words), dtype=np.float32)

    def rank(self, text: str, depth: int, within: Sequence[str] | None = None) -> Ranking:
        """The best `depth` ids for `text` (only those of `within` when given)."""
        scores = self.scores(text)
        if within is not None:
            rows = np.asarray([self._row[d] for d in within if d in self._row], dtype=np.int64)
        else:
            rows = np.arange(len(self.ids))
        rows = rows[scores[rows] > 0]
        best = rows[np.argsort(-scores[rows], kind="stable")][:depth]
        return [self.ids[i] for i in best]


def rrf(*rankings: Sequence[str], k: int = RRF_K) -> Ranking:
    """Plain reciprocal rank fusion: sum of 1 / (k + rank) over the rankings, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for position, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + position)
    return sorted(scores, key=lambda d: -scores[d])
