"""The JSON API, in Hugging Face's shapes: GET /api/daily_papers and GET /api/papers/{id}."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from paperfeed.domain import Sort, parse_arxiv_id
from paperfeed.feed import PeriodKind, feed_page, paper_detail, parse_period
from paperfeed.hf_api import (
    ErrorResponses,
    HfDailyPaper,
    HfError,
    HfPaper,
    HfSearchResult,
    hf_daily_paper,
    hf_paper,
    hf_search_result,
)
from paperfeed.search.service import MAX_RESULTS, first_listings, search, similar
from paperfeed.web.auth import current_user, rate_limit
from paperfeed.web.deps import AppSettings, DbSession, Indexes, Papers

router = APIRouter(prefix="/api", tags=["papers"])

# The API's sort names (Hugging Face's) and the feed's.
_SORTS: dict[str | None, Sort] = {None: "upvotes", "trending": "trending", "publishedAt": "newest"}

_ERRORS: ErrorResponses = {404: {"model": HfError}, 422: {"model": HfError}}


@router.get(
    "/daily_papers",
    response_model=list[HfDailyPaper],
    response_model_exclude_none=True,
    responses={422: {"model": HfError}},
)
def daily_papers(
    session: DbSession,
    settings: AppSettings,
    papers: Papers,
    day: Annotated[
        str | None, Query(alias="date", description="A day, YYYY-MM-DD.", examples=["2025-06-10"])
    ] = None,
    week: Annotated[
        str | None, Query(description="An ISO week, YYYY-Www.", examples=["2025-W24"])
    ] = None,
    month: Annotated[
        str | None, Query(description="A month, YYYY-MM.", examples=["2025-06"])
    ] = None,
    sort: Annotated[
        Literal["trending", "publishedAt"] | None,
        Query(
            description="Default: most upvoted first; trending: upvotes decayed by age "
            "(score = upvotes / (age_hours + 2)^1.8); publishedAt: newest first."
        ),
    ] = None,
    p: Annotated[int, Query(ge=0, le=1_000_000, description="Page index, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Entries per page.")] = 50,
    submitter: Annotated[str | None, Query(description="Only entries this user submitted.")] = None,
) -> list[HfDailyPaper]:
    """Papers featured on the daily lists of a day, week or month (default: the latest day)."""
    asked: list[tuple[PeriodKind, str | None]] = [("day", day), ("week", week), ("month", month)]
    given = [(kind, text) for kind, text in asked if text]
    if len(given) > 1:
        raise RequestValidationError(
            [{"loc": ("query", "date"), "msg": "give at most one of date, week and month"}]
        )
    period = parse_period(*given[0]) if given else None
    page = feed_page(
        session,
        period,
        scope="featured",
        sort=_SORTS[sort],
        page=p + 1,
        page_size=limit,
        submitter=submitter,
        gravity=settings.trending_gravity,
        papers=papers,
    )
    return [hf_daily_paper(entry) for entry in page.entries]


@router.get(
    "/papers/search",
    response_model=list[HfSearchResult],
    response_model_exclude_none=True,
    responses={422: {"model": HfError}, 429: {"model": HfError}},
)
def search_papers(
    request: Request,
    session: DbSession,
    indexes: Indexes,
    q: Annotated[str, Query(max_length=10_000, description="Words, an arXiv id or a name.")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="Results to return.")] = 20,
) -> list[HfSearchResult]:
    """Papers matching a query, best first (BM25 and semantic similarity, fused)."""
    rate_limit(request, "search", current_user(request))
    result = search(session, indexes, q, limit=limit, listings=True)
    return [
        hf_search_result(hit.paper, result.listings.get(hit.paper.arxiv_id), str(hit.why))
        for hit in result.hits
    ]


@router.get(
    "/papers/{arxiv_id:path}/similar",
    response_model=list[HfSearchResult],
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def similar_papers(
    arxiv_id: str,
    session: DbSession,
    indexes: Indexes,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="Results to return.")] = 10,
) -> list[HfSearchResult]:
    """The papers most like this one (vector neighbours fused with BM25 on its text)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    hits = similar(session, indexes, canonical, limit=limit)
    listings = first_listings(session, [hit.paper for hit in hits])
    return [
        hf_search_result(hit.paper, listings.get(hit.paper.arxiv_id), str(hit.why))
        for hit in hits
    ]


@router.get(
    "/papers/{arxiv_id:path}",
    response_model=HfPaper,
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def paper(arxiv_id: str, session: DbSession) -> HfPaper:
    """One paper by arXiv id (a version or arXiv: prefix is accepted and ignored)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    detail = paper_detail(session, canonical)
    first_listing = detail.listings[0] if detail.listings else None
    return hf_paper(detail.paper, first_listing)
