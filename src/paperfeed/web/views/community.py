"""Community pages: upvote buttons, comments, and submitting a paper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from paperfeed.community import comments, submissions, votes
from paperfeed.community.submissions import SubmissionCapped, SubmissionRefused, SubmissionRules
from paperfeed.domain import parse_arxiv_id
from paperfeed.web.auth import (
    AdminUser,
    CsrfChecked,
    RequiredUser,
    client_address,
    rate_limit,
    safe_next,
)
from paperfeed.web.deps import AppSettings, Templates
from paperfeed.web.flash import flash

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

FormText = Annotated[str, Form()]


@router.post("/papers/{arxiv_id:path}/upvote", dependencies=[CsrfChecked])
def toggle_upvote(request: Request, arxiv_id: str, user: RequiredUser, next: FormText = ""):
    """Upvote the paper, or take the upvote back; back to the page the button was on."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    rate_limit(request, "vote", user)
    with request.app.state.db.transaction() as session:
        state = votes.toggle_upvote(session, user, canonical)
    if "application/json" in request.headers.get("accept", ""):  # the page's small script
        return JSONResponse({"upvoted": state.upvoted, "upvotes": state.upvotes})
    return RedirectResponse(safe_next(next, f"/papers/{canonical}"), status_code=303)


@router.post("/papers/{arxiv_id:path}/comments", dependencies=[CsrfChecked])
def post_comment(request: Request, arxiv_id: str, user: RequiredUser, body: FormText = ""):
    """Add a comment to the paper page."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    rate_limit(request, "comment", user)
    with request.app.state.db.transaction() as session:
        comment = comments.add_comment(session, user, canonical, body)
    return RedirectResponse(f"/papers/{canonical}#comment-{comment.id}", status_code=303)


@router.post("/comments/{comment_id:id}/edit", dependencies=[CsrfChecked])
def edit_comment(request: Request, comment_id: int, user: RequiredUser, body: FormText = ""):
    """Change the text of your own comment."""
    rate_limit(request, "comment", user)
    with request.app.state.db.transaction() as session:
        comment = comments.edit_comment(session, user, comment_id, body)
    return RedirectResponse(f"/papers/{comment.paper_id}#comment-{comment.id}", status_code=303)


@router.post("/comments/{comment_id:id}/delete", dependencies=[CsrfChecked])
def delete_comment(request: Request, comment_id: int, user: RequiredUser):
    """Delete your own comment."""
    with request.app.state.db.transaction() as session:
        paper_id = comments.delete_comment(session, user, comment_id)
    flash(request, "Your comment is deleted.")
    return RedirectResponse(f"/papers/{paper_id}#comments", status_code=303)


@router.post("/comments/{comment_id:id}/hide", dependencies=[CsrfChecked])
def hide_comment(request: Request, comment_id: int, admin: AdminUser, hidden: FormText = "1"):
    """Hide a comment from everyone but admins (hidden=0 shows it again)."""
    with request.app.state.db.transaction() as session:
        paper_id = comments.set_hidden(session, admin, comment_id, hidden != "0")
    return RedirectResponse(f"/papers/{paper_id}#comment-{comment_id}", status_code=303)


@router.get("/submit")
def submit_form(request: Request, templates: Templates, settings: AppSettings, user: RequiredUser):
    """The form to put a paper on today's list."""
    return _submit_page(request, templates, settings, user)


@router.post("/submit", dependencies=[CsrfChecked])
def submit(
    request: Request,
    templates: Templates,
    settings: AppSettings,
    user: RequiredUser,
    paper_id: FormText = "",
):
    """Feature a paper on today's list, or say clearly why not."""
    try:
        with request.app.state.db.transaction() as session:
            entry = submissions.submit_paper(
                session, user, paper_id,
                fetch=submissions.arxiv_fetcher(settings),
                limits=request.app.state.limits, client=client_address(request),
                rules=SubmissionRules.from_settings(settings),
            )  # fmt: skip
    except SubmissionRefused as error:
        page = _submit_page(
            request, templates, settings, user, error.status, error=str(error), paper_id=paper_id
        )
        if isinstance(error, SubmissionCapped):
            page.headers["Retry-After"] = str(error.retry_after_s)
        return page
    flash(request, f"Thank you: {entry.paper.arxiv_id} is on today's list, submitted by you.")
    return RedirectResponse(f"/papers/{entry.paper.arxiv_id}", status_code=303)


def _submit_page(
    request: Request, templates: Templates, settings: AppSettings, user, status: int = 200,
    *, error: str | None = None, paper_id: str = "",
) -> Response:  # fmt: skip
    rules = SubmissionRules.from_settings(settings)
    used = submissions.submissions_today(request.app.state.limits, user, rules)
    context = {
        "error": error,
        "paper_id": paper_id,
        "rules": rules,
        "used": used,
    }
    return templates.TemplateResponse(request, "submit.html", context, status_code=status)
