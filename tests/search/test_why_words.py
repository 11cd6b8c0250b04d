"""The "why" of a hit: the query words the index finds in a page of hits are the words found by
analyzing each paper's own text (`in_text` below), on real papers and queries of their words."""

from __future__ import annotations

import random

import pytest
from conftest import HF_API_DIR
from sqlalchemy import select

from paperfeed.ingest import hf_daily
from paperfeed.search import lexical
from paperfeed.store import reader
from paperfeed.store.db import Database
from paperfeed.store.models import PaperRow

DAYS = ["2025-06-10", "2025-06-11", "2025-10-02"]


@pytest.fixture(scope="module")
def papers(tmp_path_factory: pytest.TempPathFactory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('why')}/why.db")
    report = hf_daily.import_paths(db, [HF_API_DIR / f"{day}.json" for day in DAYS])
    assert report.ok, report.rejected
    with db.sessions() as session:
        ids = [paper_id for (paper_id,) in session.execute(select(PaperRow.id))]
        loaded = reader.load_papers(session, ids)
    db.close()
    return list(loaded.values())


def in_text(paper, terms: dict[str, str], authors: bool) -> list[str]:
    """The definition: a word counts when its stem is among the stems of the title and
    abstract, or (with authors) it or its stem is a word of an author's name."""
    stems = set(lexical.analyze(f"{paper.title} {paper.abstract}"))
    names: set[str] = set()
    if authors:
        for author in paper.authors:
            names.update(lexical.query_terms(author.name, max_terms=1000).values())
    return [word for term, word in terms.items() if term in stems or {term, word} & names]


def test_words_found_by_the_index_are_the_words_in_each_text(papers) -> None:
    index = lexical.memory_index(papers)
    rng = random.Random(5)
    vocabulary = [
        word
        for paper in papers
        for word in f"{paper.title} {paper.abstract} {paper.authors[0].name}".split()
    ]
    assert len(papers) > 40 and len(vocabulary) > 5000
    compared = found = 0
    for _ in range(60):
        query = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 4)))
        terms = lexical.query_terms(query)
        hits = rng.sample(papers, 20)
        for authors in (True, False):
            ids = [p.arxiv_id for p in hits]
            by_index = lexical.words_found(index, ids, terms, authors=authors)
            for paper in hits:
                expected = in_text(paper, terms, authors)
                assert by_index[paper.arxiv_id] == expected, (query, paper.arxiv_id)
                compared += 1
                found += bool(by_index[paper.arxiv_id])
    assert compared == 60 * 20 * 2 and found > 100  # many hits do carry words
