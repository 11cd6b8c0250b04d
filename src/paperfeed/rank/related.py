"""The work around what a reader liked: other papers by the authors of their liked papers.

A reader who liked a paper is likely to care about the rest of its authors' work (the group's
topics, its methods, the reader's own earlier papers when they wrote it). Each liked paper
gives each other paper of each of its authors 1 / (its number of authors): a paper sharing
three authors of a small liked paper counts more than one sharing a name with a 40-author one,
and a liked paper with more than MAX_AUTHORS authors gives nothing (its weights would be tiny
and its authors' papers many). Summed over the FROM_LIKED most recent liked papers, the
RELATED_PAPERS largest, liked and candidate papers left out, are weak positives of the content
score (rank/content.py, RELATED_WEIGHT). The same choice serves the site (rank/recommend.py,
from the stored authors) and the eval (evals/recommend.py, from the snapshot's earlier papers).
Ten and twenty papers scored alike (README: For you); ten cost half as many word rows.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import TypeVar

RELATED_PAPERS = 10
FROM_LIKED = 50  # the most recent liked papers whose authors count (bounds a reader's cost)
MAX_AUTHORS = 100

Author = TypeVar("Author", bound=Hashable)  # a name in the eval, an author id on the site


def contributions(
    authors: Collection[Author], papers_of: Callable[[Author], Iterable[str]], liked: str
) -> dict[str, float]:
    """What one liked paper (id `liked`, these distinct authors) gives its authors' other papers."""
    if not authors or len(authors) > MAX_AUTHORS:
        return {}
    share = 1 / len(authors)
    given: dict[str, float] = {}
    for author in authors:
        for paper in papers_of(author):
            if paper != liked:
                given[paper] = given.get(paper, 0.0) + share
    return given


def choose(
    given: Iterable[Mapping[str, float]],
    exclude: Collection[str],
    limit: int = RELATED_PAPERS,
) -> list[str]:
    """The `limit` papers with the largest summed contributions, outside `exclude`; ties go to
    the larger (on arXiv: newer) id."""
    total: dict[str, float] = {}
    for one in given:
        for paper, weight in one.items():
            total[paper] = total.get(paper, 0.0) + weight
    for paper in total.keys() & exclude:
        del total[paper]
    best = heapq.nlargest(limit, total.items(), key=lambda item: (round(item[1], 9), item[0]))
    return [paper for paper, _weight in best]
