"""The recommender's JSON API (Bearer token): your recommendations, "not interested", follows.

Everything here is the caller's own: there is no way to name another reader, and another
reader's follow id answers 404 like one that does not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from paperfeed.domain import parse_arxiv_id
from paperfeed.feed import PeriodKind, parse_period
from paperfeed.hf_api import (
    BODY_ERRORS,
    ApiModel,
    ErrorResponses,
    HfError,
    HfRecommendation,
    HfTimestamp,
    hf_recommendation,
)
from paperfeed.rank import dismissals, follows
from paperfeed.rank.follows import Follow
from paperfeed.rank.recommend import MAX_SPAN_DAYS
from paperfeed.store.models import FOLLOW_KINDS
from paperfeed.web.auth import RequiredUser
from paperfeed.web.deps import DbSession, Recommendations
from paperfeed.web.views.for_you import latest_period

router = APIRouter(prefix="/api", tags=["recommendations"])

_ERRORS: ErrorResponses = {status: {"model": HfError} for status in (401, 404, 422)}


class NotInterestedState(ApiModel):
    paper_id: str = Field(alias="paperId")
    not_interested: bool = Field(alias="notInterested")


class FollowOut(ApiModel):
    id: int
    kind: str = Field(description=f"One of {', '.join(FOLLOW_KINDS)}.")
    label: str = Field(description="As you wrote it: a name, a category, a search.")
    created_at: HfTimestamp = Field(alias="createdAt")


class FollowIn(ApiModel):
    kind: str = Field(description=f"One of {', '.join(FOLLOW_KINDS)}.", max_length=16)
    label: str = Field(min_length=1, max_length=500, description="e.g. 'cs.CL', 'Yann LeCun'.")


@router.get(
    "/recommendations",
    response_model=list[HfRecommendation],
    response_model_exclude_none=True,
    responses=_ERRORS,
)
def recommendations(
    session: DbSession,
    recommender: Recommendations,
    user: RequiredUser,
    day: Annotated[str | None, Query(alias="date", description="A day, YYYY-MM-DD.")] = None,
    week: Annotated[str | None, Query(description="An ISO week, YYYY-Www.")] = None,
    month: Annotated[str | None, Query(description="A month, YYYY-MM.")] = None,
    start: Annotated[
        date | None,
        Query(alias="from", description=f"First day, with to ({MAX_SPAN_DAYS} days at most)."),
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (with from).")] = None,
    p: Annotated[int, Query(ge=0, le=100_000, description="Page index, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Papers per page.")] = 50,
) -> list[HfRecommendation]:
    """Your recommendations among a period's papers, best first, each with its reason and score.

    Default: the latest day with papers. Each item is a daily entry as in /api/daily_papers.
    """
    asked: list[tuple[PeriodKind, str | None]] = [("day", day), ("week", week), ("month", month)]
    given = [(kind, text) for kind, text in asked if text]
    if len(given) + (start is not None or end is not None) > 1:
        raise RequestValidationError(
            [{"loc": ("query", "date"), "msg": "give one of date, week, month or from/to"}]
        )
    if (start is None) != (end is None):
        raise RequestValidationError([{"loc": ("query", "from"), "msg": "give both from and to"}])
    if start is not None and end is not None:
        first, last = start, end
    else:
        period = parse_period(*given[0]) if given else latest_period(session, "day")
        if period is None:
            return []
        first, last = period.first, period.last
    found = recommender.recommend(session, user.id, first, last, page=p + 1, page_size=limit)
    return [
        hf_recommendation(item.paper, item.entry, item.reason, item.score) for item in found.items
    ]


@router.post(
    "/papers/{arxiv_id:path}/not-interested",
    response_model=NotInterestedState,
    responses=_ERRORS,
)
def not_interested(arxiv_id: str, request: Request, user: RequiredUser) -> NotInterestedState:
    """Mark a paper "not interested" (idempotent): it leaves your recommendations."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    with request.app.state.db.transaction() as session:
        dismissals.dismiss(session, user, canonical)
    return NotInterestedState(paper_id=canonical, not_interested=True)


@router.delete(
    "/papers/{arxiv_id:path}/not-interested",
    response_model=NotInterestedState,
    responses=_ERRORS,
)
def undo_not_interested(arxiv_id: str, request: Request, user: RequiredUser) -> NotInterestedState:
    """Take "not interested" back (idempotent)."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    with request.app.state.db.transaction() as session:
        dismissals.undo(session, user, canonical)
    return NotInterestedState(paper_id=canonical, not_interested=False)


@router.get("/follows", response_model=list[FollowOut], responses=_ERRORS)
def list_follows(session: DbSession, user: RequiredUser) -> list[FollowOut]:
    """What you follow."""
    return [_follow(f) for f in follows.follows_of(session, user.id)]


@router.post(
    "/follows",
    response_model=FollowOut,
    status_code=201,
    responses={**_ERRORS, **BODY_ERRORS},
)
def add_follow(
    request: Request, user: RequiredUser, body: Annotated[FollowIn, Body()]
) -> FollowOut:
    """Follow an author, organization, arXiv category or search (idempotent)."""
    with request.app.state.db.transaction() as session:
        made = follows.follow(session, user, body.kind, body.label)
    return _follow(made)


@router.delete("/follows/{follow_id:id}", response_model=FollowOut, responses=_ERRORS)
def delete_follow(follow_id: int, request: Request, user: RequiredUser) -> FollowOut:
    """Stop following; someone else's follow answers 404."""
    with request.app.state.db.transaction() as session:
        gone = follows.unfollow(session, user, follow_id)
    return _follow(gone)


def _follow(follow: Follow) -> FollowOut:
    return FollowOut(
        id=follow.id, kind=follow.kind, label=follow.label, created_at=follow.created_at
    )
