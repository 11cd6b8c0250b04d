"""The card: one paper in any list of papers, with its daily listing and the day it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperfeed.domain import DailyEntry, Paper


@dataclass(frozen=True)
class Card:
    """One card of a list (`_card.html`): the paper, its daily listing on a daily list, its day.

    The day depends on the list: the listing day on a daily list, the arXiv announcement day on
    an announcement feed or a search, and otherwise the best day known (`Card.of`).
    """

    paper: Paper
    entry: DailyEntry | None = None
    day: date | None = None

    @classmethod
    def listed(cls, entry: DailyEntry) -> Card:
        """A daily listing's card: the day it was featured."""
        return cls(entry.paper, entry, entry.day)

    @classmethod
    def announced(cls, paper: Paper) -> Card:
        """A card dated by the paper's first arXiv listing."""
        return cls(paper, None, paper.announced_on)

    @classmethod
    def of(cls, paper: Paper) -> Card:
        """A card dated by the day it was featured, else first announced, else published."""
        day = paper.listed_on or paper.announced_on
        if day is None and paper.published_at is not None:
            day = paper.published_at.date()
        return cls(paper, None, day)
