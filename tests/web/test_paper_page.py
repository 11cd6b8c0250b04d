"""The paper page: the full record, where it was featured, links, BibTeX, and its errors."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient


def _entry(day: str, arxiv_id: str) -> dict:
    entries = json.loads((HF_API_DIR / f"{day}.json").read_text())
    return next(e for e in entries if e["paper"]["id"] == arxiv_id)


def test_the_paper_page_shows_the_whole_record(client: TestClient) -> None:
    paper = _entry("2025-10-03", "2510.02283")["paper"]

    page = client.get("/papers/2510.02283")

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f"<h1>{paper['title']}</h1>" in text
    names = [a["name"] for a in paper["authors"]]
    links = [f'<a class="author" href="/authors/{quote(n)}">{n}</a>' for n in names]
    assert ", ".join(links) in text
    assert "ByteDance Seed" in text
    assert 'Published</dt><dd><time datetime="2025-10-02T17:55:42+00:00">2 Oct 2025' in text
    assert f"{paper['upvotes']}</span>" in text
    assert " ".join(paper["summary"].split()[:12]) in text
    assert paper["ai_summary"] in text
    assert f'href="{paper["githubRepo"]}"' in text
    assert f'href="{paper["projectPage"]}"' in text
    assert 'href="https://arxiv.org/abs/2510.02283"' in text
    assert 'href="https://arxiv.org/pdf/2510.02283"' in text


def test_the_paper_page_lists_the_days_it_was_featured_and_who_submitted_it(
    client: TestClient,
) -> None:
    page = client.get("/papers/2506.08007").text

    listing = page.split('<ul class="listings">')[1].split("</ul>")[0]
    assert '<a href="/papers/date/2025-06-10">10 Jun 2025</a>' in listing
    assert "submitted by Li Dong" in listing and "@unilm" in listing
    assert "3 comments" in listing


def test_the_paper_page_has_a_bibtex_citation(client: TestClient) -> None:
    page = client.get("/papers/2506.08007").text

    bibtex = html.unescape(page.split('<pre class="bibtex">')[1].split("</pre>")[0])
    assert bibtex == (
        "@misc{2506.08007,\n"
        "  title = {Reinforcement Pre-Training},\n"
        "  author = {Qingxiu Dong and Li Dong and Yao Tang and Tianzhu Ye and Yutao Sun and "
        "Zhifang Sui and Furu Wei},\n"
        "  year = {2025},\n"
        "  eprint = {2506.08007},\n"
        "  archivePrefix = {arXiv},\n"
        "  url = {https://arxiv.org/abs/2506.08007}\n"
        "}"
    )


@pytest.mark.parametrize("spelling", ["2506.08007v2", "arXiv:2506.08007", "arxiv:2506.08007v1"])
def test_other_spellings_of_an_id_redirect_to_the_canonical_page(
    client: TestClient, spelling: str
) -> None:
    response = client.get(f"/papers/{spelling}", follow_redirects=False)

    assert response.status_code == 301
    assert response.headers["location"] == "/papers/2506.08007"
    assert "Reinforcement Pre-Training" in client.get(f"/papers/{spelling}").text


def test_an_unknown_paper_is_a_404_page(client: TestClient) -> None:
    page = client.get("/papers/2401.99999")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "paper 2401.99999 not found" in page.text


def test_an_old_style_id_with_a_slash_reaches_the_paper_page(client: TestClient) -> None:
    page = client.get("/papers/hep-th/9901001")

    assert page.status_code == 404  # not in this database, but looked up as a paper
    assert "paper hep-th/9901001 not found" in page.text


def test_something_that_is_not_an_arxiv_id_is_a_404_page(client: TestClient) -> None:
    page = client.get("/papers/not-a-paper")

    assert page.status_code == 404
    assert "not an arXiv identifier" in page.text
