"""BibTeX citations: arXiv's @misc form, with braces that always balance."""

from __future__ import annotations

import json

from conftest import HF_API_DIR

from paperfeed.domain import Author
from paperfeed.feed import bibtex
from paperfeed.ingest.hf_daily import parse_entry


def _paper(day: str, arxiv_id: str):
    raw = next(
        e
        for e in json.loads((HF_API_DIR / f"{day}.json").read_text())
        if e["paper"]["id"] == arxiv_id
    )
    return parse_entry(raw).paper


def test_a_real_paper_is_cited_like_arxiv_does() -> None:
    paper = _paper("2025-06-10", "2506.08007").model_copy(update={"categories": ["cs.CL"]})

    assert bibtex(paper) == (
        "@misc{2506.08007,\n"
        "  title = {Reinforcement Pre-Training},\n"
        "  author = {Qingxiu Dong and Li Dong and Yao Tang and Tianzhu Ye and Yutao Sun and "
        "Zhifang Sui and Furu Wei},\n"
        "  year = {2025},\n"
        "  eprint = {2506.08007},\n"
        "  archivePrefix = {arXiv},\n"
        "  primaryClass = {cs.CL},\n"
        "  url = {https://arxiv.org/abs/2506.08007}\n"
        "}"
    )


def test_balanced_latex_groups_stay_and_stray_braces_are_spelled_out() -> None:
    paper = _paper("2025-06-10", "2506.08007")

    grouped = bibtex(paper.model_copy(update={"title": "{BERT} for $\\{x\\}$"}))
    stray = bibtex(paper.model_copy(update={"title": "a } b { c"}))

    assert "title = {{BERT} for $\\{x\\}$}," in grouped
    assert "title = {a \\textbraceright{} b \\textbraceleft{} c}," in stray


def test_line_breaks_in_titles_are_collapsed() -> None:
    paper = _paper("2025-06-10", "2506.08007")

    cited = bibtex(paper.model_copy(update={"title": "Reinforcement\n  Pre-Training"}))

    assert "title = {Reinforcement Pre-Training}," in cited


def test_a_collaboration_named_with_and_stays_one_author() -> None:
    paper = _paper("2025-06-10", "2506.08007")
    authors = [Author(name="Research and Development Team"), Author(name="Li Dong")]

    cited = bibtex(paper.model_copy(update={"authors": authors}))

    assert "author = {{Research and Development Team} and Li Dong}," in cited


def test_a_stray_brace_in_the_category_cannot_end_the_entry() -> None:
    paper = _paper("2025-06-10", "2506.08007").model_copy(update={"categories": ["cs.CL}, x={"]})

    cited = bibtex(paper)

    assert "primaryClass = {cs.CL\\textbraceright{}, x=\\textbraceleft{}}," in cited
    assert cited.count("{") == cited.count("}")
