"""The paper page: one paper's full record, its daily listings and a BibTeX citation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from paperfeed.community import comments
from paperfeed.domain import parse_arxiv_id
from paperfeed.feed import bibtex, paper_detail
from paperfeed.search.service import similar_links
from paperfeed.web.auth import CurrentUser
from paperfeed.web.deps import DbSession, Indexes, Templates

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

SIMILAR_COUNT = 8  # similar papers listed under a paper


@router.get("/papers/{arxiv_id:path}")
def paper_page(
    arxiv_id: str,
    request: Request,
    session: DbSession,
    indexes: Indexes,
    templates: Templates,
    viewer: CurrentUser,
):
    """/papers/2506.08007 or /papers/hep-th/9901001; other spellings redirect there."""
    if not arxiv_id:
        return RedirectResponse("/papers", status_code=301)
    canonical, _version = parse_arxiv_id(arxiv_id)
    if canonical != arxiv_id:
        return RedirectResponse(f"/papers/{canonical}", status_code=301)
    detail = paper_detail(session, canonical)
    context = {"paper": detail.paper, "listings": detail.listings, "bibtex": bibtex(detail.paper)}
    admin = viewer is not None and viewer.is_admin  # admins see hidden comments, to undo a hide
    context["comments"] = comments.comments_of(session, canonical, include_hidden=admin)
    context["similar"] = similar_links(
        session, indexes, canonical, limit=SIMILAR_COUNT, paper=detail.paper
    )
    return templates.TemplateResponse(request, "paper.html", context)
