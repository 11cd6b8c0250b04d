"""Organization pages: the index of organizations, and one organization's papers with counts."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from paperfeed.domain import Order
from paperfeed.feed.contributors import PaperList, organization_index, organization_page
from paperfeed.web.deps import AppSettings, DbSession, Templates
from paperfeed.web.paging import Pager

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)


class ListQuery(BaseModel):
    """Query parameters of a paginated paper list."""

    model_config = ConfigDict(extra="ignore")

    sort: Order = Field("upvotes", description="upvotes (most upvoted first) or newest.")
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
    path = f"/orgs/{quote(found.organization.organization.name, safe='')}"
    return paper_list_page(
        request, templates, "org.html", path, query, found.papers, org=found.organization
    )


def paper_list_page(
    request: Request,
    templates: Templates,
    template: str,
    path: str,
    query: ListQuery,
    papers: PaperList,
    **context: Any,
) -> Response:
    """A page of someone's papers (`_paper_list.html`) at `path`, paginated, sort kept."""
    params = {"sort": "" if query.sort == "upvotes" else query.sort}
    pager = Pager(path, query.page, papers.pages, params)
    return templates.TemplateResponse(
        request, template, {**context, "papers": papers, "pager": pager}
    )
