"""The BM25 index of papers (tantivy, on disk): its schema, documents, and queries built from terms.

User text never reaches tantivy's query parser: it is split and stemmed by the same analyzer the
index uses, and the query is assembled from term and phrase queries, so quotes, operators, SQL,
non-ASCII and 10 kB of text are just words.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import overload

import tantivy
from tantivy import Filter, Occur, Query, TextAnalyzerBuilder, Tokenizer

from paperfeed.domain import Paper, normalize_name

# Analyzer names registered on every opened index: stemmed English text, and unstemmed names.
TEXT = "paper_en"
NAMES = "paper_names"
# Field weights of a text query (BM25 scores are summed over fields); chosen on all the evals
# at once (README, Search). "text" is title and abstract as one field, as stock BM25 scores
# them: scoring the title as a field of its own, weighted up, let one common word in a title
# outrank the papers about the query. The title keeps a small weight of its own. "keywords" is
# Hugging Face's AI keywords of a daily paper (empty for other papers): the terms the paper is
# about, nearly all taken from its abstract, so a query word there is central to the paper, not
# a passing mention; a light weight, as more lets papers with keywords crowd out those without.
FIELD_BOOSTS = {"text": 1.0, "title": 0.2, "keywords": 0.1, "authors": 1.5}
# For "papers like this one" the whole title and abstract is the query: no field is favoured.
SIMILAR_BOOSTS = {"title": 1.0, "abstract": 1.0, "authors": 0.0}
# The fields a text query's terms are looked up in, each with its weight above (none or 0: not).
TEXT_FIELDS = ("text", "title", "abstract", "keywords")
TITLE_PHRASE_BOOST = 1.0
# Bumped when the schema changes: an index built with another one is rebuilt (indexer).
SCHEMA_VERSION = 3
EXACT_AUTHOR_BOOST = 20.0
MAX_QUERY_TERMS = 48  # a 10 kB query is cut to its first distinct words
NAME_WORDS = 5  # queries of up to this many words are also matched against author names
PHRASE_TERMS = 6  # queries of 2 to this many terms also score the words as a title phrase
SIMILAR_TERMS = 256  # a paper's title and abstract, as a query for papers like it
WRITER_HEAP = 64_000_000
# tantivy stores dates as i64 nanoseconds (1677-09-21 to 2262-04-11): filter days are held inside.
FIRST_DAY, LAST_DAY = date(1678, 1, 1), date(2262, 1, 1)


def _text_analyzer() -> tantivy.TextAnalyzer:
    return (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .filter(Filter.stopword("english"))
        .filter(Filter.stemmer("english"))
        .build()
    )


def _names_analyzer() -> tantivy.TextAnalyzer:
    return (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(40))
        .filter(Filter.lowercase())
        .filter(Filter.ascii_fold())
        .build()
    )


_TEXT_ANALYZER = _text_analyzer()
_NAMES_ANALYZER = _names_analyzer()


def clean_text(text: str) -> str:
    """`text` as tantivy, the tokenizer and every database can take it: lone surrogates (from
    undecodable command-line bytes) become U+FFFD and NUL, which PostgreSQL refuses, a space."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


def analyze(text: str) -> list[str]:
    """The index's terms for `text` (lowercased, accents folded, stop words out, stemmed)."""
    return _TEXT_ANALYZER.analyze(text)


def paper_key(arxiv_id: str) -> int:
    """A stable 63-bit number for a paper id: the key the vector index shares with this one."""
    digest = hashlib.blake2b(arxiv_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def paper_date(paper: Paper) -> date | None:
    """The date filters use: first-version date, else the arXiv announcement day."""
    if paper.published_at is not None:
        return paper.published_at.date()
    return paper.announced_on


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("key", stored=False, indexed=True, fast=True)
    builder.add_text_field("title", tokenizer_name=TEXT)
    builder.add_text_field("abstract", tokenizer_name=TEXT)
    builder.add_text_field("text", tokenizer_name=TEXT)  # title and abstract as one field
    builder.add_text_field("keywords", tokenizer_name=TEXT)  # Hugging Face's AI keywords
    builder.add_text_field("authors", tokenizer_name=NAMES)
    builder.add_text_field("author_key", tokenizer_name="raw")  # normalized full names
    builder.add_text_field("category", tokenizer_name="raw")
    builder.add_text_field("organization", tokenizer_name="raw")  # casefolded short name
    builder.add_date_field("date", indexed=True, fast=True)
    return builder.build()


SCHEMA = build_schema()


def open_index(path: Path | None) -> tantivy.Index:
    """Open (or create) the index at `path` (None: in memory), with paperfeed's analyzers."""
    if path is None:
        index = tantivy.Index(SCHEMA)
    else:
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(SCHEMA, path=str(path), reuse=True)
    index.register_tokenizer(TEXT, _text_analyzer())
    index.register_tokenizer(NAMES, _names_analyzer())
    return index


def memory_index(papers: Iterable[Paper]) -> tantivy.Index:
    """An in-memory index of these papers, searchable at once (the evals' corpora, tests)."""
    index = open_index(None)
    writer = index.writer(WRITER_HEAP, 1)
    for paper in papers:
        writer.add_document(document(paper))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index


def schema_matches(path: Path) -> bool:
    """Whether the index at `path` was built with today's schema (else it must be rebuilt)."""
    try:
        tantivy.Index(SCHEMA, path=str(path), reuse=True)
    except ValueError as error:
        if "schema does not match" in str(error):
            return False
        raise
    return True


def document(paper: Paper) -> tantivy.Document:
    """The indexed form of a paper."""
    doc = tantivy.Document()
    doc.add_text("id", paper.arxiv_id)
    doc.add_integer("key", paper_key(paper.arxiv_id))
    doc.add_text("title", paper.title)
    doc.add_text("abstract", paper.abstract)
    doc.add_text("text", f"{paper.title} {paper.abstract}")
    if paper.ai_keywords:
        doc.add_text("keywords", ", ".join(paper.ai_keywords))
    for author in paper.authors:
        doc.add_text("authors", author.name)
        doc.add_text("author_key", normalize_name(author.name))
    for category in paper.categories:
        doc.add_text("category", category.casefold())
    if paper.organization is not None:
        doc.add_text("organization", paper.organization.name.casefold())
    day = paper_date(paper)
    if day is not None:
        doc.add_date("date", datetime.combine(day, time(), tzinfo=UTC))
    return doc


@dataclass(frozen=True)
class Filters:
    """Restrictions on which papers a search may return; None means no restriction."""

    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None
    organization: str | None = None
    author: str | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (self.date_from, self.date_to, self.category, self.organization, self.author)
        )


def filter_clauses(filters: Filters) -> list[tuple[Occur, Query]]:
    """MUST clauses for the filters; an author filter matches the normalized full name."""
    clauses: list[tuple[Occur, Query]] = []
    if filters.date_from is not None or filters.date_to is not None:
        lower = _midnight(_in_range(filters.date_from)) if filters.date_from else None
        upper = _midnight(_in_range(filters.date_to)) if filters.date_to else None
        clauses.append(
            (Occur.Must, Query.range_query(SCHEMA, "date", tantivy.FieldType.Date, lower, upper))
        )
    if filters.category:
        category = clean_text(filters.category).casefold()
        clauses.append((Occur.Must, Query.term_query(SCHEMA, "category", category)))
    if filters.organization:
        organization = clean_text(filters.organization).casefold()
        clauses.append((Occur.Must, Query.term_query(SCHEMA, "organization", organization)))
    if filters.author:
        author = normalize_name(clean_text(filters.author))
        clauses.append((Occur.Must, Query.term_query(SCHEMA, "author_key", author)))
    return clauses


def query_terms(text: str, max_terms: int = MAX_QUERY_TERMS) -> dict[str, str]:
    """The distinct stemmed terms of a query, each with the first word that gave it."""
    terms: dict[str, str] = {}
    for word in _NAMES_ANALYZER.analyze(text):
        for term in analyze(word):
            terms.setdefault(term, word)
        if len(terms) >= max_terms:
            break
    return terms


def text_query(
    text: str,
    *,
    exact_author: bool = False,
    max_terms: int = MAX_QUERY_TERMS,
    authors: bool = True,
    boosts: dict[str, float] = FIELD_BOOSTS,
    counted: bool = False,
) -> tuple[Query | None, dict[str, str]]:
    """A BM25 query for free text, and the stemmed terms it searches for (see query_terms).

    Each term is looked up in the weighted text fields (and, for short queries, author names)
    with the field weights above; for short queries the words in order, as a phrase in the title,
    add a bonus; `exact_author` (the text is a known author's full name) puts that author's papers
    first. `counted`: a term that occurs n times in the text weighs n times as much (a whole
    paper as the query, where repetition says what it is about).
    """
    words = query_terms(text, max_terms)
    terms = list(words)
    counts = Counter(analyze(text)) if counted else Counter()
    names = list(dict.fromkeys(_NAMES_ANALYZER.analyze(text)))
    # Names are a few words: longer text is not looked up in authors (a third of the query cost).
    names = names if authors and len(names) <= NAME_WORDS else []
    clauses: list[tuple[Occur, Query]] = []
    for field in TEXT_FIELDS:
        if not boosts.get(field):
            continue
        for term in terms:
            query = Query.term_query(SCHEMA, field, term, index_option="freq")
            weight = boosts[field] * max(counts[term], 1)
            clauses.append((Occur.Should, Query.boost_query(query, weight)))
    for name in names:
        query = Query.term_query(SCHEMA, "authors", name, index_option="freq")
        clauses.append((Occur.Should, Query.boost_query(query, boosts["authors"])))
    if 1 < len(terms) <= PHRASE_TERMS:
        in_order: list[str | tuple[int, str]] = list(terms)
        phrase = Query.phrase_query(SCHEMA, "title", in_order, slop=1)
        clauses.append((Occur.Should, Query.boost_query(phrase, TITLE_PHRASE_BOOST)))
    if exact_author:
        author = Query.term_query(SCHEMA, "author_key", normalize_name(text))
        clauses.append((Occur.Should, Query.boost_query(author, EXACT_AUTHOR_BOOST)))
    if not clauses:
        return None, {}
    return Query.boolean_query(clauses), words


@overload
def combine(query: Query, filters: Filters) -> Query: ...


@overload
def combine(query: None, filters: Filters) -> Query | None: ...


def combine(query: Query | None, filters: Filters) -> Query | None:
    """`query` restricted by the filters; with no query, every paper the filters allow."""
    clauses = filter_clauses(filters)
    if query is None:
        return Query.boolean_query(clauses) if clauses else None
    if not clauses:
        return query
    return Query.boolean_query([(Occur.Must, query), *clauses])


def search(
    index: tantivy.Index, query: Query, limit: int, *, newest_first: bool = False
) -> list[tuple[str, float]]:
    """Paper ids and BM25 scores, best first (or newest first, for filter-only searches)."""
    if limit <= 0:  # tantivy panics on a limit of 0
        return []
    searcher = index.searcher()
    if newest_first:
        result = searcher.search(query, limit, count=False, order_by_field="date")
        return [(searcher.doc(address)["id"][0], 0.0) for _date, address in result.hits]
    result = searcher.search(query, limit, count=False)
    return [(searcher.doc(address)["id"][0], score) for score, address in result.hits]


def matching_keys(index: tantivy.Index, query: Query, limit: int) -> tuple[list[int], int]:
    """Keys of up to `limit` papers the query matches (unranked), and how many match in all."""
    searcher = index.searcher()
    result = searcher.search(query, limit, count=True)
    keys = searcher.fast_field_values("key", [address for _score, address in result.hits])
    count = getattr(result, "count", None) or 0  # set because count=True
    return [int(key) for key in keys if key is not None], int(count)


def id_query(ids: Sequence[str]) -> Query:
    """A query matching exactly the papers with these ids."""
    return Query.term_set_query(SCHEMA, "id", list(ids))


def ids_among(index: tantivy.Index, ids: Sequence[str], filters: Filters) -> set[str]:
    """Those of `ids` the filters allow."""
    if not ids:
        return set()
    query = combine(id_query(ids), filters)
    return {paper_id for paper_id, _ in search(index, query, len(ids))}


def similar_query(paper: Paper) -> Query | None:
    """A BM25 query for papers like `paper`: its most telling title and abstract words."""
    query, _terms = text_query(
        f"{paper.title} {paper.abstract}",
        max_terms=SIMILAR_TERMS,
        authors=False,
        boosts=SIMILAR_BOOSTS,
        counted=True,
    )
    if query is None:
        return None
    return Query.boolean_query(
        [(Occur.Should, query), (Occur.MustNot, Query.term_query(SCHEMA, "id", paper.arxiv_id))]
    )


def titles_with_all(index: tantivy.Index, ids: Sequence[str], terms: Sequence[str]) -> set[str]:
    """Those of `ids` whose title holds every one of the (stemmed) `terms`: one small query."""
    if not ids or not terms:
        return set()
    query = Query.boolean_query(
        [(Occur.Must, id_query(ids))]
        + [(Occur.Must, Query.term_query(SCHEMA, "title", term)) for term in terms]
    )
    return {paper_id for paper_id, _score in search(index, query, len(ids))}


def words_found(
    index: tantivy.Index, ids: Sequence[str], terms: dict[str, str], *, authors: bool = True
) -> dict[str, list[str]]:
    """For each indexed paper of `ids`, the query's words (see query_terms) that occur in its
    title, abstract or AI keywords (stemmed, as the index has them) or, with `authors`, in its
    authors' names (the word or its stem): the "why" of a page of hits, asked of the index with
    one small query a word rather than by analyzing every hit's text again (most of a search's
    time before)."""
    found: dict[str, list[str]] = {paper_id: [] for paper_id in ids}
    if not ids or not terms:
        return found
    among = id_query(ids)
    for term, word in terms.items():
        fields = [Query.term_query(SCHEMA, field, term) for field in ("text", "keywords")]
        if authors:
            fields += [Query.term_query(SCHEMA, "authors", name) for name in {term, word}]
        query = Query.boolean_query(
            [(Occur.Must, among), (Occur.Must, Query.boolean_query(
                [(Occur.Should, field) for field in fields]
            ))]
        )  # fmt: skip
        for paper_id, _score in search(index, query, len(ids)):
            if paper_id in found:
                found[paper_id].append(word)
    return found


def _in_range(day: date) -> date:
    return min(max(day, FIRST_DAY), LAST_DAY)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
