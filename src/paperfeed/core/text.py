"""Text as people read it: whitespace squashed, long text cut at a word."""

from __future__ import annotations

import re

# C0 controls but tab and line feed, DEL and C1 controls: nothing a person types, and NUL is
# refused by PostgreSQL.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_SURROGATES = re.compile("[\ud800-\udfff]")  # a str holds only lone ones (pairs are combined)
# Anything storable() changes (CR included); most text has none, and one search finds that out.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def storable(text: str) -> str:
    """Typed text as every database stores it: control characters (NUL above all) dropped and
    lone surrogates (undecodable bytes) as U+FFFD; CR LF line ends as LF."""
    if _UNSTORABLE.search(text) is None:  # the common case, about 5x faster than the subs
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text))


def squash(text: str | None) -> str:
    """Runs of whitespace (line breaks in titles and abstracts) as single spaces."""
    return " ".join((text or "").split())


def shorten(text: str | None, width: int = 300) -> str:
    """At most about `width` characters, cut at a word boundary, with an ellipsis if cut."""
    text = text or ""
    head = 2 * width + 2  # squashing a long abstract whole cost more than the rest of a card
    if len(text) > head:
        squashed = squash(text[:head])
        # The first width + 1 characters are the whole text's, squashed, when more follow.
        text = squashed if len(squashed) > width + 1 else squash(text)
    else:
        text = squash(text)
    if len(text) <= width:
        return text
    cut = text[: width + 1].rsplit(" ", 1)[0] if " " in text[:width] else text[:width]
    return cut.rstrip(" ,;:.-") + "\u2026"
