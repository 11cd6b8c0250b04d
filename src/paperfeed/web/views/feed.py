"""Feed pages: the latest day, a day, an ISO week or a month of papers, with navigation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from paperfeed.domain import Sort
from paperfeed.feed import (
    FeedPage,
    Period,
    PeriodKind,
    Scope,
    default_scope,
    feed_page,
    parse_period,
)
from paperfeed.web.deps import AppSettings, DbSession, Papers, Templates
from paperfeed.web.paging import Pager

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

_SEGMENT: dict[PeriodKind, str] = {"day": "date", "week": "week", "month": "month"}


class FeedQuery(BaseModel):
    """Query parameters every feed page takes."""

    model_config = ConfigDict(extra="ignore")

    sort: Sort = Field("upvotes", description="upvotes (most upvoted), trending or newest.")
    scope: Scope | None = Field(None, description="featured (daily lists) or all papers.")
    page: int = Field(1, ge=1, le=100_000)


def _renderer(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    papers: Papers,
    query: Annotated[FeedQuery, Query()],
) -> Callable[[Period | None], Response]:
    """Renders the feed page of a period (None: the latest day) for this request."""

    def render(period: Period | None) -> Response:
        default = default_scope(session)
        page = feed_page(
            session,
            period,
            scope=query.scope or default,
            sort=query.sort,
            page=query.page,
            page_size=settings.page_size,
            gravity=settings.trending_gravity,
            papers=papers,
        )
        context = {"feed": page, "links": FeedLinks(page, default), "default_scope": default}
        return templates.TemplateResponse(request, "feed.html", context)

    return render


Render = Annotated[Callable[[Period | None], Response], Depends(_renderer)]


@router.get("/")
@router.get("/papers")
def latest(render: Render) -> Response:
    """The latest day with papers."""
    return render(None)


@router.get("/papers/date/{day}")
def day_feed(day: str, render: Render) -> Response:
    return render(parse_period("day", day))


@router.get("/papers/week/{week}")
def week_feed(week: str, render: Render) -> Response:
    return render(parse_period("week", week))


@router.get("/papers/month/{month}")
def month_feed(month: str, render: Render) -> Response:
    return render(parse_period("month", month))


def feed_pager(
    period: Period | None, *, sort: Sort, scope: Scope, default_scope: Scope, page: int = 1,
    pages: int = 1,
) -> Pager:  # fmt: skip
    """The pages of a feed; its addresses leave out parameters at their defaults."""
    path = f"/papers/{_SEGMENT[period.kind]}/{period.slug}" if period else "/papers"
    params = {
        "sort": "" if sort == "upvotes" else sort,
        "scope": "" if scope == default_scope else scope,
    }
    return Pager(path, page, pages, params)


def feed_url(
    period: Period | None, *, sort: Sort, scope: Scope, default_scope: Scope, page: int = 1
) -> str:
    """The address of a feed page; parameters at their defaults are left out."""
    return feed_pager(period, sort=sort, scope=scope, default_scope=default_scope).url(page)


@dataclass(frozen=True)
class FeedLinks:
    """Addresses of the pages a feed page links to, keeping its sort and scope."""

    feed: FeedPage
    default_scope: Scope

    def to(self, period: Period | None, *, page: int = 1) -> str:
        return feed_url(
            period,
            sort=self.feed.sort,
            scope=self.feed.scope,
            default_scope=self.default_scope,
            page=page,
        )

    @property
    def pager(self) -> Pager:
        """The page-number navigation of this feed (`_pager.html`)."""
        feed = self.feed
        return feed_pager(
            feed.period, sort=feed.sort, scope=feed.scope, default_scope=self.default_scope,
            page=feed.page, pages=feed.pages,
        )  # fmt: skip

    def sorted_by(self, sort: Sort) -> str:
        return feed_url(
            self.feed.period, sort=sort, scope=self.feed.scope, default_scope=self.default_scope
        )

    def in_scope(self, scope: Scope) -> str:
        return feed_url(
            self.feed.period, sort=self.feed.sort, scope=scope, default_scope=self.default_scope
        )

    def kind(self, kind: PeriodKind) -> str:
        """The day, week or month around this page (a day: the latest shown with papers)."""
        period = self.feed.period
        if period is None:
            return self.to(None)
        days = [item.day for item in self.feed.items if item.day]
        anchor = max(days) if days and period.kind != "day" else period.first
        return self.to(Period.containing(kind, anchor))
