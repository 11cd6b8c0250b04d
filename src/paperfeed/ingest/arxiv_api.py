"""Fetches one paper's metadata from the arXiv API (Atom) by id, for papers not stored yet.

https://info.arxiv.org/help/api/user-manual.html — `GET {url}?id_list=ID` answers an Atom feed
with one <entry>; an unknown id gives no entry (or an entry titled "Error").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree

from paperfeed.domain import Author, InvalidArxivId, Paper, parse_arxiv_id
from paperfeed.ingest import safe_xml
from paperfeed.ingest.http import PoliteClient, RemoteError

ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
_NS = {"atom": ATOM_NS, "arxiv": ARXIV_NS}


def fetch_paper(client: PoliteClient, url: str, arxiv_id: str) -> Paper | None:
    """The paper with this id (no version) from the arXiv API at `url`, or None if arXiv has none.

    Raises RemoteError when the API does not answer or answers something unreadable.
    """
    response = client.get(url, params={"id_list": arxiv_id, "max_results": "1"})
    if response.status_code != 200:
        raise RemoteError(f"the arXiv API answered HTTP {response.status_code} for {arxiv_id}")
    try:
        root = safe_xml.parse(response.content)
    except etree.XMLSyntaxError as error:
        raise RemoteError(f"the arXiv API sent unreadable XML for {arxiv_id}: {error}") from None
    for entry in root.iterfind("atom:entry", _NS):
        raw_id = _text(entry, "atom:id") or ""
        if "/api/errors" in raw_id:
            return None
        paper = parse_entry(entry)
        if paper.arxiv_id == arxiv_id:
            return paper
    return None


def parse_entry(entry: Any) -> Paper:
    """One Atom <entry> of the arXiv API as a Paper; RemoteError for one it cannot read."""
    raw_id = (_text(entry, "atom:id") or "").rstrip("/")
    try:
        arxiv_id, version = parse_arxiv_id(raw_id.split("/abs/", 1)[-1])
    except InvalidArxivId:  # a 404 for the submitter's id otherwise: the answer is at fault
        raise RemoteError(f"the arXiv API sent an entry with the id {raw_id[:80]!r}") from None
    title = _text(entry, "atom:title", keep_whitespace=True)
    if not title:
        raise RemoteError(f"the arXiv API sent {arxiv_id} without a title")
    primary = entry.find("arxiv:primary_category", _NS)
    categories = [c.get("term") for c in entry.iterfind("atom:category", _NS) if c.get("term")]
    if primary is not None and primary.get("term"):
        categories = [primary.get("term"), *(c for c in categories if c != primary.get("term"))]
    published = _time(_text(entry, "atom:published"))
    updated = _time(_text(entry, "atom:updated"))
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=_text(entry, "atom:summary", keep_whitespace=True) or "",
        authors=[
            Author(name=name)
            for name in (_text(a, "atom:name") for a in entry.iterfind("atom:author", _NS))
            if name
        ],
        categories=categories,
        published_at=published,
        updated_at=updated if updated != published else None,
        comments=_text(entry, "arxiv:comment"),
        journal_ref=_text(entry, "arxiv:journal_ref"),
        doi=_text(entry, "arxiv:doi"),
        source="arxiv",
    )


def _text(parent: Any, path: str, *, keep_whitespace: bool = False) -> str | None:
    return safe_xml.text(parent, path, _NS, keep_whitespace=keep_whitespace)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RemoteError(f"the arXiv API sent a bad time {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
