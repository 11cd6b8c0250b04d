"""The /trending page: the last days' daily lists ranked by trending score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from paperfeed.core.clock import utcnow
from paperfeed.core.paging import page_count
from paperfeed.feed import Card
from paperfeed.rank import trending
from paperfeed.web.deps import AppSettings, DbSession, Templates
from paperfeed.web.paging import Pager

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)


@router.get("/trending")
def trending_papers(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The last days' daily lists ranked by trending score (see paperfeed.rank.trending)."""
    ranked = trending.trending_page(
        session,
        days=settings.trending_days,
        page=page,
        page_size=settings.page_size,
        now=utcnow(),
        gravity=settings.trending_gravity,
    )
    context = {
        "ranked": ranked,
        "pager": Pager("/trending", page, page_count(ranked.total, settings.page_size)),
        "gravity": settings.trending_gravity,
        "items": [Card.listed(entry) for entry in ranked.entries],
    }
    return templates.TemplateResponse(request, "trending.html", context)
