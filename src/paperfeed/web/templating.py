"""The Jinja environment: templates folder, autoescaping, and the filters templates use."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from paperfeed.core.text import shorten, squash
from paperfeed.domain import Author

TEMPLATES_DIR = Path(__file__).parent / "templates"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def make_templates() -> Jinja2Templates:
    """Templates with autoescaping on for every file, and paperfeed's filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates ship with the package: no stat() of each file per render
    )
    env.filters.update(
        squash=squash,
        shorten=shorten,
        paragraphs=paragraphs,
        day=format_day,
        http_url=http_url,
        first_authors=first_authors,
        urlencode=urlencode,
    )
    return Jinja2Templates(env=env, context_processors=[_site])


def _site(request: Request) -> dict[str, Any]:
    """Variables every page gets."""
    return {"site_name": request.app.state.settings.site_name}


def urlencode(value: Any) -> str:
    """Jinja's `urlencode`, remembering the strings it quoted: author names and organizations,
    a handful a card, come back page after page, and quoting one cost more than its card's
    other fields."""
    if isinstance(value, str):
        return _quoted(value)
    return jinja2.filters.do_urlencode(value)


@lru_cache(maxsize=65_536)
def _quoted(value: str) -> str:
    return jinja2.filters.do_urlencode(value)


def paragraphs(text: str | None) -> list[str]:
    """Blank-line separated paragraphs, each with its whitespace squashed."""
    return [p for p in (squash(part) for part in _PARAGRAPH_BREAK.split(text or "")) if p]


def format_day(value: date | datetime | None) -> str:
    """'10 Jun 2025' (empty for an unknown date)."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def http_url(value: str | None) -> str | None:
    """The URL if it is http(s), else None: data never becomes a javascript: link."""
    if not value:
        return None
    return value if urlsplit(value.strip()).scheme in ("http", "https") else None


def first_authors(authors: list[Author], count: int = 4) -> tuple[list[str], int]:
    """The first `count` names, and how many more there are (all of them if one would remain)."""
    if len(authors) <= count + 1:
        return [squash(a.name) for a in authors], 0
    return [squash(a.name) for a in authors[:count]], len(authors) - count  # shown ones only
