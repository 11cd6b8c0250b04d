"""The search page: /search?q= with filters, each card saying why it matched."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from paperfeed.feed import Card
from paperfeed.search.embedding import model_name
from paperfeed.search.lexical import Filters
from paperfeed.search.service import MAX_RESULTS, search
from paperfeed.web.auth import current_user, rate_limit
from paperfeed.web.deps import DbSession, Indexes, Templates
from paperfeed.web.paging import Pager

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

PAGE_SIZE = 20


@router.get("/search")
def search_page(
    request: Request,
    session: DbSession,
    indexes: Indexes,
    templates: Templates,
    q: Annotated[str, Query(max_length=10_000)] = "",
    category: Annotated[str | None, Query(max_length=40)] = None,
    organization: Annotated[str | None, Query(max_length=200)] = None,
    author: Annotated[str | None, Query(max_length=500)] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_RESULTS // PAGE_SIZE)] = 1,
):
    """Papers for a query, with filters; each card says why it matched."""
    if q.strip():
        rate_limit(request, "search", current_user(request))
    filters = Filters(
        date_from=date_from,
        date_to=date_to,
        category=category or None,
        organization=organization or None,
        author=author or None,
    )
    result = search(
        session,
        indexes,
        q,
        filters=filters,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    hits = [(Card.announced(hit.paper), hit.why) for hit in result.hits]
    has_next = len(result.hits) == PAGE_SIZE and page * PAGE_SIZE < MAX_RESULTS
    params = {
        "q": q,
        "from": date_from.isoformat() if date_from else "",
        "to": date_to.isoformat() if date_to else "",
        "category": category or "",
        "organization": organization or "",
        "author": author or "",
    }
    context = {
        "pager": Pager("/search", page, page + 1 if has_next else page, params),
        "q": q,
        "filters": filters,
        "hits": hits,
        "dense": result.dense,
        # Search by meaning answers from the fast tier until the configured model covers all.
        "fast_tier": result.model is not None and result.model != model_name(indexes.settings),
        "page": page,
        "has_next": has_next,
        "searched": bool(result.query) or bool(filters),
    }
    return templates.TemplateResponse(request, "search.html", context)
