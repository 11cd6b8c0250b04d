"""Organization pages: the index of organizations, and one organization's papers with counts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from paperfeed.feed.contributors import ListSort, organization_index, organization_page
from paperfeed.web.deps import AppSettings, DbSession, Templates
from paperfeed.web.paging import Pager

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)


class ListQuery(BaseModel):
    """Query parameters of a paginated paper list."""

    model_config = ConfigDict(extra="ignore")

    sort: ListSort = Field("upvotes", description="upvotes (most upvoted first) or newest.")
    page: int = Field(1, ge=1, le=100_000)


@router.get("/orgs")
def organizations(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every organization with papers, most papers first."""
    index = organization_index(session, page=page, page_size=settings.page_size)
    context = {"index": index, "pager": Pager("/orgs", index.page, index.pages)}
    return templates.TemplateResponse(request, "orgs.html", context)


@router.get("/orgs/{name}")
def organization(
    name: str,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    query: Annotated[ListQuery, Query()],
) -> Response:
    """An organization's papers, with how many there are and their upvotes in all."""
    found = organization_page(
        session, name, sort=query.sort, page=query.page, page_size=settings.page_size
    )
    params = {"sort": "" if query.sort == "upvotes" else query.sort}
    path = f"/orgs/{quote(found.organization.organization.name, safe='')}"
    pager = Pager(path, query.page, found.papers.pages, params)
    context = {"org": found.organization, "papers": found.papers, "pager": pager}
    return templates.TemplateResponse(request, "org.html", context)
