"""The paper page: one paper's full record, its daily listings and a BibTeX citation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from paperfeed.domain import parse_arxiv_id
from paperfeed.feed import bibtex, paper_detail
from paperfeed.web.deps import DbSession, Templates

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)


@router.get("/papers/{arxiv_id:path}")
def paper_page(arxiv_id: str, request: Request, session: DbSession, templates: Templates):
    """/papers/2506.08007 or /papers/hep-th/9901001; other spellings redirect there."""
    if not arxiv_id:
        return RedirectResponse("/papers", status_code=301)
    canonical, _version = parse_arxiv_id(arxiv_id)
    if canonical != arxiv_id:
        return RedirectResponse(f"/papers/{canonical}", status_code=301)
    detail = paper_detail(session, canonical)
    context = {"paper": detail.paper, "listings": detail.listings, "bibtex": bibtex(detail.paper)}
    return templates.TemplateResponse(request, "paper.html", context)
