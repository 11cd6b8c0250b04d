"""Text as people read it: whitespace squashed, long text cut at a word."""

from __future__ import annotations


def squash(text: str | None) -> str:
    """Runs of whitespace (line breaks in titles and abstracts) as single spaces."""
    return " ".join((text or "").split())


def shorten(text: str | None, width: int = 300) -> str:
    """At most about `width` characters, cut at a word boundary, with an ellipsis if cut."""
    text = squash(text)
    if len(text) <= width:
        return text
    cut = text[: width + 1].rsplit(" ", 1)[0] if " " in text[:width] else text[:width]
    return cut.rstrip(" ,;:.-") + "\u2026"
