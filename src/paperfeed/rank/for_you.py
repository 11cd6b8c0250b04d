"""The "for you" ranking: a reader's papers among a period's, from what they upvoted.

A reader is the papers they upvoted: the mean of those papers' stored embeddings (where search
has any) and the terms of their titles and Hugging Face keywords. A paper is for them when its
vector's cosine to that mean reaches FOR_YOU_MIN_SIMILARITY, or, without vectors, when it shares
FOR_YOU_MIN_SHARED of those terms. The digest's "for you" section is this ranking.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from paperfeed.domain import Paper
from paperfeed.search.vectors import store as vectors_store
from paperfeed.store import reader as store_reader
from paperfeed.store.models import UpvoteRow

# "For you" needs this many of the reader's terms in a paper (one shared word is chance)...
FOR_YOU_MIN_SHARED = 2
# ...or, with embeddings, this cosine similarity to the mean of the upvoted papers' vectors.
FOR_YOU_MIN_SIMILARITY = 0.5
_WORD = re.compile(r"[a-z][a-z0-9-]{3,}")
_STOPWORDS_TEXT = """
with from that this these those their there which while where when into onto over under about
across after before between through using used uses based towards toward than more most less
such also each other only very what your ours they them have been being were will would could
should must does done make makes made many much paper papers approach method methods model
models results show shows propose proposed study task tasks data large learning neural network
networks novel work framework
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class Reader:
    """What a logged-in subscriber upvoted: terms for the lexical "for you" match, and the mean
    of the upvoted papers' embeddings (search's stored vectors) where they have any."""

    upvoted: frozenset[str]
    terms: frozenset[str]
    profile: np.ndarray | None = None  # unit length


class ForYou:
    """Ranks one pool of papers (a period's) for any number of readers."""

    def __init__(self, pool: list[Paper], vectors: tuple[list[int], np.ndarray] | None) -> None:
        self.pool = pool
        self.vectors = vectors  # (pool indexes, matrix) of the pool papers that have vectors
        self._words = [_terms(f"{p.title} {' '.join(p.ai_keywords or [])}") for p in pool]

    def rank(self, reader: Reader) -> list[Paper]:
        """The pool's papers for this reader, best first; only those similar enough."""
        if reader.profile is not None and self.vectors is not None:
            indexes, matrix = self.vectors
            if matrix.shape[1] == reader.profile.shape[0]:
                similarity = matrix @ reader.profile
                ranked = sorted(zip(similarity.tolist(), indexes, strict=True), reverse=True)
                return [self.pool[i] for score, i in ranked if score >= FOR_YOU_MIN_SIMILARITY]
        scored = []
        for index, words in enumerate(self._words):
            shared = len(words & reader.terms)
            if shared >= FOR_YOU_MIN_SHARED:
                scored.append((-shared, index))
        return [self.pool[index] for _, index in sorted(scored)]


def readers(
    session: Session, user_ids: Sequence[int], *, vector_model: str | None = None
) -> dict[int, Reader]:
    """These users' upvotes as "for you" readers (one query for the whole batch)."""
    upvoted: dict[int, set[str]] = {}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        query = select(UpvoteRow.user_id, UpvoteRow.paper_id).where(UpvoteRow.user_id.in_(chunk))
        for user_id, paper_id in session.execute(query):
            upvoted.setdefault(user_id, set()).add(paper_id)
    if not upvoted:
        return {}
    every = sorted(set().union(*upvoted.values()))
    liked = store_reader.load_papers(session, every)
    vectors: dict[str, np.ndarray] = {}
    if vector_model is not None:  # one query for the whole batch of readers
        ids, matrix = vectors_store.vectors_for(session, vector_model, every)
        vectors = dict(zip(ids, matrix, strict=True))
    profiles = {}
    for user_id, theirs in upvoted.items():
        terms: set[str] = set()
        for paper_id in theirs:
            if paper := liked.get(paper_id):
                terms |= _terms(f"{paper.title} {' '.join(paper.ai_keywords or [])}")
        mine = [vectors[paper_id] for paper_id in theirs if paper_id in vectors]
        profiles[user_id] = Reader(frozenset(theirs), frozenset(terms), _unit_mean(mine))
    return profiles


def _unit_mean(vectors: list[np.ndarray]) -> np.ndarray | None:
    """The unit-length mean of these embeddings, or None without any."""
    if not vectors:
        return None
    mean = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else None


def _terms(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS)
