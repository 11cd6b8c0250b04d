"""Hybrid search and similar papers on real papers: relevance, filters, reasons, hostile input."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from conftest import ARXIV_JSONL
from support.search_corpus import (
    OCTOBER_FILES,
    embed_papers,
    import_october,
    make_home,
    search_settings,
)

from paperfeed.domain import PaperNotFound
from paperfeed.ingest.arxiv_jsonl import parse_record
from paperfeed.search import service
from paperfeed.search.indexer import update_indexes
from paperfeed.search.lexical import Filters
from paperfeed.settings import Settings
from paperfeed.store.db import Database
from paperfeed.store.reader import load_papers
from paperfeed.store.writer import save_papers


@dataclass
class Corpus:
    db: Database
    settings: Settings
    indexes: service.SearchIndexes
    embedded: list[str]

    def search(self, query: str, **options) -> service.SearchResult:
        with self.db.sessions() as session:
            return service.search(session, self.indexes, query, **options)

    def ids(self, query: str, **options) -> list[str]:
        return [hit.paper.arxiv_id for hit in self.search(query, **options).hits]


def _arxiv_records(ids: set[str]) -> list:
    with gzip.open(ARXIV_JSONL, "rt") as lines:
        return [parse_record(r) for r in map(json.loads, lines) if r["id"] in ids]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, minilm) -> Iterator[Corpus]:
    """194 real papers (Hugging Face lists of 1-9 Oct 2025, with their arXiv records where the
    snapshot has them), the first 64 by id embedded with MiniLM, both indexes built."""
    home = make_home(tmp_path_factory.mktemp("search") / "home")
    db = Database(f"sqlite:///{home / 'paperfeed.db'}")
    import_october(db)
    with db.sessions() as session:
        from sqlalchemy import select

        from paperfeed.store.models import PaperRow

        ids = set(session.scalars(select(PaperRow.id)))
    with db.transaction() as session:
        save_papers(session, _arxiv_records(ids))
    embedded = embed_papers(db, minilm)
    settings = search_settings(home, db.url)
    update_indexes(db, settings)
    yield Corpus(db, settings, service.SearchIndexes(settings), embedded)
    db.close()


# Natural queries that avoid the papers' own wording; each answer was checked by reading the
# abstract (the first 64 papers by id have vectors, so these exercise the dense side).
NATURAL = [
    ("estimating how far away things are in 360 degree photos", "2509.26618"),
    ("automatically writing chest x-ray findings for radiologists", "2510.00428"),
    ("why do language models fail at multiplying long numbers", "2510.00184"),
    ("who came up with ResNet and skip connections", "2509.24732"),
    ("teaching chatbots to understand what other people believe and intend", "2509.22887"),
    ("robots exploring beneath the sea", "2509.26536"),
    ("learned branching heuristics for SAT solvers", "2509.25411"),
]


@pytest.mark.parametrize(("query", "expected"), NATURAL)
def test_natural_queries_find_the_paper_about_them(corpus: Corpus, query, expected) -> None:
    result = corpus.search(query, limit=5)

    assert result.dense
    assert expected in [hit.paper.arxiv_id for hit in result.hits[:3]]


HOSTILE = [
    "",
    "   ",
    '"unbalanced quote',
    "AND",
    "OR OR AND NOT",
    "title:foo AND abstract:(bar",
    "a* -b +c ~d ^e",
    "(((((",
    "'; DROP TABLE papers; --",
    "1 OR 1=1",
    "\\\\ \\ / \" ' ` $ { } [ ] < > & |",
    "日本語の論文 数学",
    "Ünïcödé naïve café ﬁnance",
    "\x00\x01\x02 control",
    "🤖🔥 emoji query",
    "word " * 2000,  # 10 kB
    "x" * 10_000,
    "2406.99999",  # an id that is not stored
    "https://arxiv.org/abs/not-an-id",
    "caf\udce9 lone surrogate",  # undecodable command-line bytes arrive like this
    "\ud800",
    "yejin\x00choi",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_never_error(corpus: Corpus, query: str) -> None:
    plain = corpus.search(query, limit=10)
    filtered = corpus.search(
        query, limit=10, filters=Filters(category="cs.CL", date_from=date(2025, 9, 1))
    )

    assert len(plain.hits) <= 10
    for hit in filtered.hits:
        assert "cs.CL" in hit.paper.categories


def test_extreme_filters_and_page_bounds_never_error(corpus: Corpus) -> None:
    ever = Filters(date_from=date(1, 1, 1), date_to=date(9999, 12, 31))  # beyond tantivy's dates
    cs_cl = Filters(category="cs.CL")

    assert corpus.ids("language models", filters=ever) == corpus.ids("language models")
    assert not corpus.search("language models", filters=Filters(date_from=date(9999, 1, 1))).hits
    assert not corpus.search("language models", filters=Filters(date_to=date(1, 1, 1))).hits
    assert not corpus.search("", filters=cs_cl, limit=0).hits  # tantivy panics on limit 0
    assert not corpus.search("language models", limit=0).hits
    first_five = corpus.ids("", filters=cs_cl, limit=5)
    assert first_five and corpus.ids("", filters=cs_cl, offset=-5, limit=5) == first_five
    assert not corpus.search("", filters=Filters(category="cs.\udcff", author="x\x00y")).hits


def test_nul_and_lone_surrogates_never_reach_the_database(db: Database, tmp_path: Path) -> None:
    """PostgreSQL refuses NUL in text and no driver encodes a lone surrogate: both are cleaned
    out of the query before the author lookup (on each backend)."""
    settings = search_settings(tmp_path / "home", db.url, dense=False)
    import_october(db, OCTOBER_FILES[:1])
    update_indexes(db, settings)
    indexes = service.SearchIndexes(settings)
    with db.sessions() as session:
        plain = service.search(session, indexes, "language models")
        hostile = service.search(session, indexes, "language\x00models \udcff")

    assert plain.hits
    assert [h.paper.arxiv_id for h in hostile.hits] == [h.paper.arxiv_id for h in plain.hits]


def test_an_arxiv_id_or_url_goes_straight_to_that_paper(corpus: Corpus) -> None:
    for query in ("2509.26618", "arXiv:2509.26618v2", "https://arxiv.org/abs/2509.26618"):
        hits = corpus.search(query).hits

        assert [hit.paper.arxiv_id for hit in hits] == ["2509.26618"]
        assert hits[0].why.exact == "arXiv id"


def test_an_exact_title_comes_first(corpus: Corpus) -> None:
    for title in ("Who invented deep residual learning?", "Regression Language Models for Code"):
        hits = corpus.search(title).hits

        assert hits[0].paper.title == title
        assert hits[0].why.exact == "title"


# A system's or method's name alone (service.is_name_query) is routed to more weight on its
# words: the paper that bears it in its title comes first, above the papers that cite it.
NAMED = [
    ("MCPMark", "2509.24002"),
    ("FrameThinker", "2509.24304"),
    ("TruthRL", "2509.25760"),
    ("VitaBench", "2509.26490"),
    ("OceanGym", "2509.26536"),
    ("Graph2Eval", "2510.00507"),
]


@pytest.mark.parametrize(("name", "expected"), NAMED)
def test_a_method_name_finds_the_paper_named_so_first(corpus: Corpus, name, expected) -> None:
    assert service.is_name_query(name)
    result = corpus.search(name, limit=5)

    assert result.hits[0].paper.arxiv_id == expected
    assert name.lower() in result.hits[0].paper.title.lower()


def test_an_authors_name_lists_their_papers_first(corpus: Corpus) -> None:
    with corpus.db.sessions() as session:
        from sqlalchemy import select

        from paperfeed.store.models import PaperAuthorRow

        query = select(PaperAuthorRow.paper_id).where(PaperAuthorRow.name == "Yejin Choi")
        theirs = set(session.scalars(query))
    assert len(theirs) >= 3

    hits = corpus.search("yejin choi", limit=10).hits

    assert {hit.paper.arxiv_id for hit in hits[: len(theirs)]} == theirs
    assert all(hit.why.exact == "author" for hit in hits[: len(theirs)])


def test_each_hit_says_why(corpus: Corpus) -> None:
    hits = corpus.search("reinforcement learning for reasoning in language models", limit=20).hits

    assert hits
    for hit in hits:
        keywords = " ".join(hit.paper.ai_keywords or [])
        text = f"{hit.paper.title} {hit.paper.abstract} {keywords}".lower()
        assert hit.why.matched, hit.paper.arxiv_id
        for word in hit.why.matched:
            assert word[:5] in text  # a stem of the word occurs in the paper
        if hit.paper.arxiv_id in corpus.embedded:
            assert hit.why.semantic is not None and -1.0 <= hit.why.semantic <= 1.0
        else:
            assert hit.why.semantic is None
    assert "matched:" in str(hits[0].why)


def test_papers_without_vectors_are_found_by_their_words(corpus: Corpus) -> None:
    with corpus.db.sessions() as session:
        paper = load_papers(session, ["2510.02209"])["2510.02209"]  # StockBench
    assert paper.arxiv_id not in corpus.embedded

    hits = corpus.search("LLM agents trading stocks profitably", limit=5).hits

    found = [hit for hit in hits[:3] if hit.paper.arxiv_id == "2510.02209"]
    assert found and found[0].why.semantic is None


def test_category_filter(corpus: Corpus) -> None:
    hits = corpus.search("language models", limit=50, filters=Filters(category="cs.CV")).hits

    assert hits
    assert all("cs.CV" in hit.paper.categories for hit in hits)
    unfiltered = corpus.search("language models", limit=50).hits
    assert any("cs.CV" not in hit.paper.categories for hit in unfiltered)


def test_date_filter(corpus: Corpus) -> None:
    first, last = date(2025, 9, 29), date(2025, 9, 30)
    hits = corpus.search("benchmark", limit=50, filters=Filters(date_from=first, date_to=last)).hits

    assert hits
    for hit in hits:
        day = hit.paper.published_at.date() if hit.paper.published_at else hit.paper.announced_on
        assert first <= day <= last


def test_organization_and_author_filters(corpus: Corpus) -> None:
    by_org = corpus.search("video", limit=50, filters=Filters(organization="NVIDIA")).hits
    by_author = corpus.search("", limit=50, filters=Filters(author="julian mcauley")).hits

    assert by_org and all(hit.paper.organization.name == "nvidia" for hit in by_org)
    assert len(by_author) == 3
    for hit in by_author:
        assert "Julian McAuley" in [a.name for a in hit.paper.authors]


def test_filters_apply_to_the_dense_side_too(corpus: Corpus) -> None:
    query = "estimating how far away things are in 360 degree photos"
    allowed = Filters(category="cs.CL")

    hits = corpus.search(query, limit=20, filters=allowed).hits

    assert "2509.26618" not in [hit.paper.arxiv_id for hit in hits]  # a cs.CV paper
    assert all("cs.CL" in hit.paper.categories for hit in hits)


def test_similar_papers_by_vector(corpus: Corpus) -> None:
    with corpus.db.sessions() as session:
        hits = service.similar(session, corpus.indexes, "2509.26488", limit=5)  # dParallel

    ids = [hit.paper.arxiv_id for hit in hits]
    assert "2509.26488" not in ids
    assert "2509.26328" in ids[:3]  # Fast-dLLM v2, the other diffusion-LLM decoding paper
    for hit in hits:
        assert (hit.why.semantic is not None) == (hit.paper.arxiv_id in corpus.embedded)


def test_similar_papers_without_a_vector_use_bm25(corpus: Corpus) -> None:
    with corpus.db.sessions() as session:
        hits = service.similar(session, corpus.indexes, "2510.02209", limit=5)  # not embedded

    assert hits
    assert all(hit.why.semantic is None for hit in hits)
    assert all(hit.why.matched for hit in hits)


def test_similar_papers_of_an_unknown_paper(corpus: Corpus) -> None:
    with corpus.db.sessions() as session, pytest.raises(PaperNotFound):
        service.similar(session, corpus.indexes, "2406.99999")


def test_bm25_alone_when_dense_search_is_off(corpus: Corpus, tmp_path: Path) -> None:
    settings = corpus.settings.model_copy(update={"search_dense": False})
    indexes = service.SearchIndexes(settings)
    with corpus.db.sessions() as session:
        result = service.search(session, indexes, "robots exploring beneath the sea")

    assert not result.dense
    assert all(hit.why.semantic is None for hit in result.hits)
