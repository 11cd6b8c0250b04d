"""One-time messages for the next page a browser sees (after a redirect), kept in the session."""

from __future__ import annotations

from typing import Literal

from fastapi import Request

FlashKind = Literal["notice", "error"]
_KEY = "flash"


def flash(request: Request, message: str, kind: FlashKind = "notice") -> None:
    """Show `message` on the next page this browser renders."""
    messages = list(request.session.get(_KEY, []))[-4:]
    messages.append([kind, message[:500]])
    request.session[_KEY] = messages


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    """The waiting messages as (kind, text), removed from the session."""
    if _KEY not in request.session:
        return []
    return [(kind, text) for kind, text in request.session.pop(_KEY)]
