"""BibTeX export as a property: bibtexparser reads back one entry with exactly the fields we
wrote, whatever characters a title, author, category or DOI holds (braces, @, =, commas, %)."""

from __future__ import annotations

import bibtexparser
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.domain import Author, Paper
from paperfeed.feed import bibtex

# Printable text with BibTeX's special characters over-represented.
TEXT = st.text(
    st.sampled_from("{}@=,%#\\\"' ~$&_^") | st.characters(codec="utf-8", categories=["L", "N"]),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip())


@settings(max_examples=200, deadline=None, database=None)
@given(
    title=TEXT,
    authors=st.lists(TEXT, max_size=3),
    category=st.none() | TEXT,
    doi=st.none() | TEXT,
)
def test_bibtexparser_reads_back_what_we_export(
    title: str, authors: list[str], category: str | None, doi: str | None
) -> None:
    paper = Paper(
        arxiv_id="2506.08007",
        title=title,
        authors=[Author(name=name) for name in authors],
        categories=[category] if category else [],
        doi=doi,
    )
    entries = bibtexparser.loads(bibtex(paper)).entries
    assert len(entries) == 1
    entry = entries[0]
    expected = {"ENTRYTYPE", "ID", "title", "eprint", "archiveprefix", "url"}
    expected |= {"author"} if paper.authors else set()
    expected |= {"primaryclass"} if category else set()
    expected |= {"doi"} if doi else set()
    assert set(entry) == expected  # no field leaked into another or out of the entry
    assert entry["ID"] == entry["eprint"] == "2506.08007"
    assert entry["url"] == "https://arxiv.org/abs/2506.08007"
    # The braces of each value balance, so none can close the field early.
    for key in expected - {"ENTRYTYPE", "ID"}:
        depth = 0
        for char in entry[key]:
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0, (key, entry[key])
        assert depth == 0, (key, entry[key])
