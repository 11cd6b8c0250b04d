"""The community JSON API (Bearer token): upvotes, comments and paper submissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import Field

from paperfeed.community import comments, submissions, votes
from paperfeed.community.comments import Comment
from paperfeed.community.submissions import SubmissionRules
from paperfeed.domain import parse_arxiv_id
from paperfeed.feed import paper_detail
from paperfeed.hf_api import (
    BODY_ERRORS,
    ApiModel,
    ErrorResponses,
    HfDailyPaper,
    HfError,
    HfTimestamp,
    hf_daily_paper,
)
from paperfeed.web.auth import RequiredUser, client_address, rate_limit
from paperfeed.web.deps import AppSettings, DbSession

router = APIRouter(prefix="/api", tags=["community"])

_AUTH_ERRORS: ErrorResponses = {
    401: {"model": HfError},
    404: {"model": HfError},
    429: {"model": HfError, "description": "Too many lately; see Retry-After."},
}


class UpvoteState(ApiModel):
    """The caller's vote on a paper after the request, and the paper's total upvotes."""

    paper_id: str = Field(alias="paperId")
    upvoted: bool
    upvotes: int = Field(description="Imported upvotes plus local ones.")


class CommentOut(ApiModel):
    """A comment: its text as written, and as HTML (the safe Markdown subset, escaped)."""

    id: int
    paper_id: str = Field(alias="paperId")
    author: str = Field(description="Username.")
    body: str
    html: str
    created_at: HfTimestamp = Field(alias="createdAt")
    edited_at: HfTimestamp | None = Field(default=None, alias="editedAt")


class CommentIn(ApiModel):
    body: str = Field(min_length=1, max_length=comments.BODY_MAX)


class SubmitIn(ApiModel):
    paper_id: str = Field(description="arXiv id or URL, as on Hugging Face.", max_length=300)


@router.post("/papers/{arxiv_id:path}/upvote", response_model=UpvoteState, responses=_AUTH_ERRORS)
def upvote(arxiv_id: str, request: Request, user: RequiredUser) -> UpvoteState:
    """Upvote a paper (idempotent: a second call changes nothing)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    rate_limit(request, "vote", user)
    with request.app.state.db.transaction() as session:
        state = votes.upvote(session, user, canonical)
    return UpvoteState(paper_id=canonical, upvoted=state.upvoted, upvotes=state.upvotes)


@router.delete("/papers/{arxiv_id:path}/upvote", response_model=UpvoteState, responses=_AUTH_ERRORS)
def remove_upvote(arxiv_id: str, request: Request, user: RequiredUser) -> UpvoteState:
    """Take your upvote back (idempotent)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    rate_limit(request, "vote", user)
    with request.app.state.db.transaction() as session:
        state = votes.remove_upvote(session, user, canonical)
    return UpvoteState(paper_id=canonical, upvoted=state.upvoted, upvotes=state.upvotes)


@router.get(
    "/papers/{arxiv_id:path}/comments",
    response_model=list[CommentOut],
    response_model_exclude_none=True,
    responses={404: {"model": HfError}},
)
def list_comments(arxiv_id: str, session: DbSession) -> list[CommentOut]:
    """A paper's visible comments, oldest first (no token needed)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    paper_detail(session, canonical)  # 404 for an unknown paper
    return [_comment(c) for c in comments.comments_of(session, canonical)]


@router.post(
    "/papers/{arxiv_id:path}/comments",
    response_model=CommentOut,
    response_model_exclude_none=True,
    status_code=201,
    responses={**_AUTH_ERRORS, **BODY_ERRORS, 422: {"model": HfError}},
)
def post_comment(
    arxiv_id: str, request: Request, user: RequiredUser, comment: Annotated[CommentIn, Body()]
) -> CommentOut:
    """Comment on a paper."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    rate_limit(request, "comment", user)
    with request.app.state.db.transaction() as session:
        added = comments.add_comment(session, user, canonical, comment.body)
    return _comment(added)


@router.post(
    "/papers/submit",
    response_model=HfDailyPaper,
    response_model_exclude_none=True,
    status_code=201,
    responses={
        **_AUTH_ERRORS,
        **BODY_ERRORS,
        409: {"model": HfError, "description": "Already on a daily list."},
        422: {"model": HfError, "description": "Not an arXiv id, or too old."},
        429: {"model": HfError, "description": "The daily cap is reached, or too many tries."},
        503: {"model": HfError, "description": "arXiv did not answer."},
    },
)
def submit(
    request: Request, settings: AppSettings, user: RequiredUser, body: Annotated[SubmitIn, Body()]
) -> HfDailyPaper:
    """Put a paper on today's daily list, submitted by you; refusals say why."""
    with request.app.state.db.transaction() as session:
        entry = submissions.submit_paper(
            session, user, body.paper_id,
            fetch=submissions.arxiv_fetcher(settings),
            limits=request.app.state.limits, client=client_address(request),
            rules=SubmissionRules.from_settings(settings),
        )  # fmt: skip
    return hf_daily_paper(entry)


def _comment(comment: Comment) -> CommentOut:
    return CommentOut(
        id=comment.id,
        paper_id=comment.paper_id,
        author=comment.author,
        body=comment.body,
        html=comment.html,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )

