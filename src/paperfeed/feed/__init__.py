"""Feeds: which papers a day, week or month page lists, in what order, and what comes next."""

from paperfeed.feed.bibtex import bibtex
from paperfeed.feed.periods import InvalidPeriod, Period, PeriodKind, parse_period
from paperfeed.feed.service import (
    FeedItem,
    FeedPage,
    PaperDetail,
    Scope,
    Sort,
    default_scope,
    feed_page,
    latest_period,
    paper_detail,
)

__all__ = [
    "FeedItem",
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
