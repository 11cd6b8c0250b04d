"""Page-number navigation for paginated lists: which page numbers to show and their addresses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Pager:
    """Links between the pages of one list at `path`, keeping its other query parameters."""

    path: str
    page: int  # from 1
    pages: int
    params: Mapping[str, str] = field(default_factory=dict)  # left out when at their default

    def url(self, number: int) -> str:
        params = {key: value for key, value in self.params.items() if value}
        if number > 1:
            params["page"] = str(number)
        return f"{self.path}?{urlencode(params)}" if params else self.path

    def with_params(self, **params: str) -> str:
        """The first page of the same list with some parameters changed (e.g. another sort)."""
        return Pager(self.path, 1, 1, {**self.params, **params}).url(1)

    def numbers(self, around: int = 2) -> list[int | None]:
        """The first, the last and a few around the current page; None marks a gap."""
        current, last = self.page, self.pages
        shown = sorted({1, last, *range(max(1, current - around), min(last, current + around) + 1)})
        numbers: list[int | None] = []
        for previous, number in zip([0, *shown], shown, strict=False):
            if number - previous > 1 and previous:
                numbers.append(None)
            numbers.append(number)
        return numbers
