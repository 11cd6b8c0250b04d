"""Reading rendered pages in tests: which papers a page lists, where its links go."""

from __future__ import annotations

import html
import re

_CARD = re.compile(r'<article class="card">.*?<h2><a href="/papers/([^"]+)">(.*?)</a></h2>', re.S)
_LINK = re.compile(r'<a rel="(prev|next)" href="([^"]+)">')


def card_ids(page: str) -> list[str]:
    """The arXiv ids of the paper cards, in the order shown."""
    return [paper_id for paper_id, _title in _CARD.findall(page)]


def card_titles(page: str) -> list[str]:
    """The card titles as a reader sees them (entities decoded)."""
    return [html.unescape(title) for _paper_id, title in _CARD.findall(page)]


def period_links(page: str) -> dict[str, str]:
    """The links to the previous and next period with papers: {'prev': url, 'next': url}."""
    nav = re.search(r'<nav class="periods".*?</nav>', page, re.S)
    return {rel: html.unescape(href) for rel, href in _LINK.findall(nav.group(0) if nav else "")}


def page_links(page: str) -> list[str]:
    """The addresses in the page-number navigation."""
    nav = re.search(r'<nav class="pages".*?</nav>', page, re.S)
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', nav.group(0))] if nav else []
