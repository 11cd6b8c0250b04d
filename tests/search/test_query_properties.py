"""The query analyser as a property: any text a visitor types (operators, quotes, control
characters, scripts, 10 kB of it) gives a bounded set of terms and a query tantivy runs."""

from __future__ import annotations

import pytest
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.domain import Author, Paper
from paperfeed.search import lexical

QUERY_TEXT = st.lists(
    st.sampled_from(['"', "'", "(", ")", "AND", "OR", "NOT", "-", "+", "*", ":", "title:", "~2",
                     "^3", "\\", "\x00", "\ud800", "\u200b", "transformer", "ﬁne", "İ", "数据",
                     "2506.08007", "hep-th/9901001", "  ", "\n"])
    | st.text(max_size=12),
    max_size=40,
).map("".join)  # fmt: skip


@pytest.fixture(scope="module")
def index() -> tantivy.Index:
    """An in-memory index of three papers."""
    return lexical.memory_index(
        Paper(
            arxiv_id=f"2506.0800{number}",
            title=title,
            abstract=f"{title} abstract",
            authors=[Author(name="Ada Lovelace")],
        )
        for number, title in enumerate(["Transformers fine-tuned", "数据 mining", "Graph nets"])
    )


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=QUERY_TEXT, exact_author=st.booleans(), counted=st.booleans())
def test_any_text_is_a_bounded_query_that_runs(
    index: tantivy.Index, text: str, exact_author: bool, counted: bool
) -> None:
    text = lexical.clean_text(text)
    terms = lexical.query_terms(text)
    assert len(terms) <= lexical.MAX_QUERY_TERMS
    query, words = lexical.text_query(text, exact_author=exact_author, counted=counted)
    if query is None:
        assert words == {} and not terms and not exact_author  # nothing to look for
        return
    assert set(words) == set(terms)
    hits = lexical.search(index, query, 10)
    assert len(hits) <= 3 and all(score >= 0 for _id, score in hits)
    found = lexical.words_found(index, [paper_id for paper_id, _ in hits], words)
    assert set(found) == {paper_id for paper_id, _ in hits}
    assert all(word in words.values() for shown in found.values() for word in shown)


def test_ten_kilobytes_of_query_are_cut_to_the_first_terms() -> None:
    text = " ".join(f"word{number}" for number in range(2000))
    assert len(lexical.query_terms(text)) == lexical.MAX_QUERY_TERMS
