"""Feeds: which papers a day, week or month page lists, in what order, and what comes next."""

from paperfeed.domain import Sort
from paperfeed.feed.bibtex import bibtex
from paperfeed.feed.items import Card
from paperfeed.feed.periods import InvalidPeriod, Period, PeriodKind, parse_period
from paperfeed.feed.service import (
    FeedPage,
    PaperDetail,
    Scope,
    default_scope,
    feed_page,
    latest_period,
    paper_detail,
)

__all__ = [
    "Card",
    "FeedPage",
    "InvalidPeriod",
    "PaperDetail",
    "Period",
    "PeriodKind",
    "Scope",
    "Sort",
    "bibtex",
    "default_scope",
    "feed_page",
    "latest_period",
    "paper_detail",
    "parse_period",
]
