"""JSON of organization and author pages: their papers, in the Hugging Face paper shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from paperfeed.domain import Order
from paperfeed.feed.contributors import PaperList, author_page, organization_page
from paperfeed.hf_api import ErrorResponses, HfError, HfPaper, hf_paper
from paperfeed.web.deps import DbSession

router = APIRouter(prefix="/api", tags=["organizations and authors"])

_ERRORS: ErrorResponses = {404: {"model": HfError}, 422: {"model": HfError}}
SortQuery = Annotated[
    Order, Query(description="upvotes: most upvoted first; newest: latest published first.")
]
PageQuery = Annotated[int, Query(ge=0, le=1_000_000, description="Page index, from 0.")]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="Papers per page.")]


@router.get(
    "/organizations/{name}/papers",
    response_model=list[HfPaper],
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def organization_papers(
    name: str,
    session: DbSession,
    sort: SortQuery = "upvotes",
    p: PageQuery = 0,
    limit: LimitQuery = 50,
) -> list[HfPaper]:
    """The papers attributed to an organization (its Hugging Face name)."""
    found = organization_page(session, name, sort=sort, page=p + 1, page_size=limit)
    return _papers(found.papers)


@router.get(
    "/authors/{name:path}/papers",
    response_model=list[HfPaper],
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def author_papers(
    name: str,
    session: DbSession,
    sort: SortQuery = "upvotes",
    p: PageQuery = 0,
    limit: LimitQuery = 50,
) -> list[HfPaper]:
    """The papers listing an author, under any spelling of the name."""
    found = author_page(session, name, sort=sort, page=p + 1, page_size=limit)
    return _papers(found.papers)


def _papers(papers: PaperList) -> list[HfPaper]:
    return [hf_paper(item.paper) for item in papers.items]
