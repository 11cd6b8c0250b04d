"""Author pages: the papers of one person, found by their normalized name, with counts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from paperfeed.feed.contributors import author_page
from paperfeed.web.deps import AppSettings, DbSession, Templates
from paperfeed.web.views.orgs import ListQuery, paper_list_page

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)


@router.get("/authors/{name:path}")
def author(
    name: str,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    query: Annotated[ListQuery, Query()],
) -> Response:
    """/authors/Yann%20LeCun: every paper listing a name that normalizes the same way."""
    found = author_page(
        session, name, sort=query.sort, page=query.page, page_size=settings.page_size
    )
    path = f"/authors/{quote(found.author.name, safe='')}"
    return paper_list_page(
        request, templates, "author.html", path, query, found.papers, author=found.author
    )
