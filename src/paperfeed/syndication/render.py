"""RSS 2.0 and Atom 1.0 documents of a list of papers, built as XML trees with lxml."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal
from urllib.parse import quote, urljoin

from lxml import etree
from lxml.builder import ElementMaker

from paperfeed.core.clock import as_utc, utcnow
from paperfeed.domain import Paper

FeedFormat = Literal["rss", "atom"]
MEDIA_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
}

_ATOM_NS = "http://www.w3.org/2005/Atom"
_DC_NS = "http://purl.org/dc/elements/1.1/"
# Characters XML 1.0 cannot carry at all (imported text sometimes has stray control codes).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_GENERATOR = "paperfeed"


@dataclass(frozen=True)
class FeedEntry:
    """One paper in a feed, and when it joined this feed (listed, published or saved)."""

    paper: Paper
    when: datetime | None


@dataclass(frozen=True)
class Channel:
    """What one feed says: its title, the page it mirrors (a site path) and its papers."""

    title: str
    description: str
    page_path: str
    entries: list[FeedEntry]

    def updated(self) -> datetime:
        """The latest entry's time; an empty feed says now."""
        times = [as_utc(entry.when) for entry in self.entries if entry.when]
        return max(times) if times else utcnow()


def render(channel: Channel, form: FeedFormat, *, site_url: str, self_path: str) -> bytes:
    """The feed as a UTF-8 XML document; paths become absolute under `site_url`."""
    build = _atom if form == "atom" else _rss
    tree = build(channel, _Links(site_url), self_path)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8", pretty_print=True)


@dataclass(frozen=True)
class _Links:
    site_url: str

    def absolute(self, path: str) -> str:
        return urljoin(self.site_url.rstrip("/") + "/", path.lstrip("/"))

    def paper(self, paper: Paper) -> str:
        return self.absolute(f"/papers/{quote(paper.arxiv_id)}")


def _atom(channel: Channel, links: _Links, self_path: str) -> etree._Element:
    atom = ElementMaker(namespace=_ATOM_NS, nsmap={None: _ATOM_NS})
    page = links.absolute(channel.page_path)
    feed = atom.feed(
        atom.id(page),
        atom.title(_text(channel.title)),
        atom.subtitle(_text(channel.description)),
        atom.updated(_rfc3339(channel.updated())),
        atom.link(rel="alternate", type="text/html", href=page),
        atom.link(rel="self", type=MEDIA_TYPES["atom"], href=links.absolute(self_path)),
        atom.generator(_GENERATOR),
    )
    for entry in channel.entries:
        paper = entry.paper
        when = _rfc3339(as_utc(entry.when) if entry.when else channel.updated())
        item = atom.entry(
            atom.id(paper.abs_url),
            atom.title(_text(paper.title)),
            atom.link(rel="alternate", type="text/html", href=links.paper(paper)),
            atom.link(rel="related", type="text/html", href=paper.abs_url),
            atom.updated(when),
        )
        if paper.published_at:
            item.append(atom.published(_rfc3339(as_utc(paper.published_at))))
        for author in paper.authors:
            item.append(atom.author(atom.name(_text(author.name))))
        if not paper.authors:  # Atom wants an author on every entry or on the feed
            item.append(atom.author(atom.name("unknown")))
        for category in paper.categories:
            item.append(atom.category(term=_text(category)))
        if paper.abstract:
            item.append(atom.summary(_text(paper.abstract), type="text"))
        feed.append(item)
    return feed


def _rss(channel: Channel, links: _Links, self_path: str) -> etree._Element:
    rss = ElementMaker(nsmap={"atom": _ATOM_NS, "dc": _DC_NS})
    atom = ElementMaker(namespace=_ATOM_NS)
    dc = ElementMaker(namespace=_DC_NS)
    body = rss.channel(
        rss.title(_html(channel.title)),
        rss.link(links.absolute(channel.page_path)),
        rss.description(_html(channel.description)),
        atom.link(rel="self", type=MEDIA_TYPES["rss"], href=links.absolute(self_path)),
        rss.lastBuildDate(format_datetime(channel.updated())),
        rss.generator(_GENERATOR),
    )
    for entry in channel.entries:
        paper = entry.paper
        item = rss.item(
            rss.title(_html(paper.title)),
            rss.link(links.paper(paper)),
            rss.guid(paper.abs_url, isPermaLink="true"),
        )
        if entry.when:
            item.append(rss.pubDate(format_datetime(as_utc(entry.when))))
        for author in paper.authors:
            item.append(dc.creator(_text(author.name)))
        for category in paper.categories:
            item.append(rss.category(_text(category)))
        if paper.abstract:
            item.append(rss.description(_html(paper.abstract)))
        body.append(item)
    return rss.rss(body, version="2.0")


def _text(value: str) -> str:
    """Whitespace squashed, and characters XML cannot hold dropped (lxml escapes the rest)."""
    return " ".join(_NOT_XML.sub("", value).split())


def _html(value: str) -> str:
    """Text for an RSS title or description, which readers take as HTML: escaped as HTML here,
    then again as XML by lxml, so a title `a <b> & c` reads as those characters, not a tag."""
    return html.escape(_text(value), quote=False)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
