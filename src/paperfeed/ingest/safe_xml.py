"""XML from remote sources (OAI-PMH, the arXiv API): a parser that cannot be turned on us, and
reading an element's text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

# No DTDs, no entity expansion, no network: a hostile response must not reach files or hosts.
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def parse(content: bytes) -> Any:
    """The root element of an XML document (raises etree.XMLSyntaxError when it is not XML)."""
    return etree.fromstring(content, SAFE_PARSER)


def text(
    parent: Any, path: str, namespaces: Mapping[str, str], *, keep_whitespace: bool = False
) -> str | None:
    """The text under the element at `path`, or None if it is missing or empty.

    Runs of whitespace become one space, unless `keep_whitespace`: then only the ends are
    stripped (titles and abstracts keep their inner whitespace: it is data).
    """
    element = parent.find(path, namespaces)
    if element is None:
        return None
    value = "".join(element.itertext())
    return (value.strip() if keep_whitespace else " ".join(value.split())) or None
