"""Progress of long jobs: what a job reports, and a sink that shows nothing."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    """Receives progress of a long job; the CLI draws it as a bar, the site counts it."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class NoProgress:
    """A ProgressSink that shows nothing (library use, tests, the web server)."""

    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass
