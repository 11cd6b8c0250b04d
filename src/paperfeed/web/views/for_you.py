""""For you": the reader's recommendations by day, week or month, onboarding, the private feed,
and the forms that teach the recommender ("not interested", follow, unfollow, clear).

Every change is a plain HTML form POST with the session's CSRF token, so it all works without
JavaScript. The private feed is reached by its token alone (feed readers send no cookie); an
unknown or revoked token answers 404 like any missing page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.exceptions import HTTPException

from paperfeed.core.errors import Invalid
from paperfeed.domain import Paper, parse_arxiv_id
from paperfeed.feed import Period, PeriodKind, parse_period
from paperfeed.feed.items import Card
from paperfeed.rank import dismissals, follows, reader_state, recommend, trending
from paperfeed.rank.follows import Follow, InvalidFollow
from paperfeed.store import reader
from paperfeed.store.models import PaperRow, UserRow
from paperfeed.syndication.render import Channel, FeedEntry
from paperfeed.web.auth import CsrfChecked, RequiredUser, current_user, safe_next
from paperfeed.web.deps import AppSettings, DbSession, Recommendations, Templates
from paperfeed.web.flash import flash
from paperfeed.web.paging import Pager
from paperfeed.web.views.syndication import feed_response

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

FormText = Annotated[str, Form()]
_SEGMENT: dict[PeriodKind, str] = {"day": "date", "week": "week", "month": "month"}
ONBOARDING_CATEGORIES = 24  # the most common categories offered on the onboarding page
ONBOARDING_PAPERS = 12  # trending papers of the last FEED_DAYS offered to upvote there
FEED_DAYS = 7  # the private feed: recommendations among the last week's papers
_DISMISSED = "paperfeed_dismissed"  # request.state cache for the templates


def install(app: FastAPI) -> None:
    """The template helpers cards and pages use (the viewer's dismissals and follows)."""
    app.state.templates.env.globals.update(
        not_interested=not_interested, followed=followed, recommender_knows=recommender_knows
    )


def not_interested(request: Request, paper_id: str) -> bool:
    """Whether the logged-in viewer marked the paper "not interested" (loaded once a request)."""
    user = current_user(request)
    if user is None:
        return False
    ids = getattr(request.state, _DISMISSED, None)
    if ids is None:
        with request.app.state.db.sessions() as session:
            ids = dismissals.dismissed_ids(session, user.id)
        setattr(request.state, _DISMISSED, ids)
    return paper_id in ids


def followed(request: Request, kind: str, label: str) -> Follow | None:
    """The viewer's follow of this author, organization, category or search, if any."""
    user = current_user(request)
    if user is None:
        return None
    with request.app.state.db.sessions() as session:
        return follows.is_following(session, user, kind, label)


@dataclass(frozen=True)
class Knowledge:
    """What the recommender knows about a reader, for the settings page."""

    upvotes: int
    saved: int
    dismissed: list[Paper]
    follows: list[Follow]
    cleared_at: Any
    feed_token: reader_state.FeedToken | None


def recommender_knows(request: Request) -> Knowledge | None:
    """The viewer's profile as the recommender sees it (None for a visitor)."""
    user = current_user(request)
    if user is None:
        return None
    with request.app.state.db.sessions() as session:
        profile = recommend.load_profile(session, user.id)
        saved = len(
            {s.paper_id for s in profile.liked}
            - {s.paper_id for s in _upvotes_since(session, user, profile)}
        )
        dismissed_ids = [s.paper_id for s in profile.disliked]
        papers = reader.load_papers(session, dismissed_ids[:100])
        return Knowledge(
            upvotes=len(_upvotes_since(session, user, profile)),
            saved=saved,
            dismissed=[papers[i] for i in dismissed_ids[:100] if i in papers],
            follows=profile.follows,
            cleared_at=profile.cleared_at,
            feed_token=reader_state.feed_token_of(session, user.id),
        )


def _upvotes_since(session, user: UserRow, profile: recommend.Profile):
    from paperfeed.community import votes

    upvoted = votes.upvoted_ids(session, user)
    return [s for s in profile.liked if s.paper_id in upvoted]


# --- the pages ---


def _render(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    recommender: Recommendations,
    user: UserRow,
    period: Period | None,
    page: int,
) -> Response:
    period = period or latest_period(session, "day")
    if period is None:
        return templates.TemplateResponse(request, "for_you.html", {"found": None, "period": None})
    found = recommender.recommend(
        session, user.id, period.first, period.last, page=page, page_size=settings.page_size
    )
    cards = [(_card(item), item.reason) for item in found.items]
    context = {
        "found": found,
        "cards": cards,
        "period": period,
        "previous": _neighbour(session, period, before=True),
        "next": _neighbour(session, period, before=False),
        "pager": Pager(for_you_path(period), page, found.pages),
        "links": {kind: for_you_path(_around(cards, period, kind)) for kind in _SEGMENT},
        "path": for_you_path,
    }
    return templates.TemplateResponse(request, "for_you.html", context)


PageNumber = Annotated[int, Query(ge=1, le=100_000)]


@router.get("/for-you")
def latest(
    request: Request, session: DbSession, settings: AppSettings, templates: Templates,
    recommender: Recommendations, user: RequiredUser, page: PageNumber = 1,
) -> Response:  # fmt: skip
    """The reader's recommendations among the latest day's papers."""
    return _render(request, session, settings, templates, recommender, user, None, page)


@router.get("/for-you/date/{day}")
def day_page(
    day: str, request: Request, session: DbSession, settings: AppSettings, templates: Templates,
    recommender: Recommendations, user: RequiredUser, page: PageNumber = 1,
) -> Response:  # fmt: skip
    period = parse_period("day", day)
    return _render(request, session, settings, templates, recommender, user, period, page)


@router.get("/for-you/week/{week}")
def week_page(
    week: str, request: Request, session: DbSession, settings: AppSettings, templates: Templates,
    recommender: Recommendations, user: RequiredUser, page: PageNumber = 1,
) -> Response:  # fmt: skip
    period = parse_period("week", week)
    return _render(request, session, settings, templates, recommender, user, period, page)


@router.get("/for-you/month/{month}")
def month_page(
    month: str, request: Request, session: DbSession, settings: AppSettings,
    templates: Templates, recommender: Recommendations, user: RequiredUser, page: PageNumber = 1,
) -> Response:  # fmt: skip
    period = parse_period("month", month)
    return _render(request, session, settings, templates, recommender, user, period, page)


def for_you_path(period: Period | None) -> str:
    """The address of the reader's page for a period."""
    return f"/for-you/{_SEGMENT[period.kind]}/{period.slug}" if period else "/for-you"


@router.get("/for-you/start")
def onboarding(
    request: Request, session: DbSession, settings: AppSettings, templates: Templates,
    user: RequiredUser,
) -> Response:  # fmt: skip
    """A short start: categories to follow and trending papers to upvote."""
    rows = session.execute(
        select(PaperRow.primary_category, func.count())
        .where(PaperRow.primary_category.is_not(None))
        .group_by(PaperRow.primary_category)
        .order_by(func.count().desc(), PaperRow.primary_category)
        .limit(ONBOARDING_CATEGORIES)
    ).all()
    chosen = {f.key for f in follows.follows_of(session, user.id) if f.kind == "category"}
    categories = [(name, count, name.lower() in chosen) for name, count in rows]
    papers = _trending_papers(session, settings)
    context = {"categories": categories, "papers": papers}
    return templates.TemplateResponse(request, "for_you_start.html", context)


@router.post("/for-you/start", dependencies=[CsrfChecked])
async def onboarding_save(request: Request, user: RequiredUser) -> Response:
    """Follow the categories ticked on the onboarding page (and unfollow those unticked)."""
    form = await request.form()
    picked = {str(value) for value in form.getlist("category")}
    offered = {str(value) for value in form.getlist("offered")}
    try:
        with request.app.state.db.transaction() as session:
            for category in sorted(picked):
                follows.follow(session, user, "category", category)
            for category in sorted(offered - picked):
                follows.unfollow_key(session, user, "category", category)
    except InvalidFollow as error:
        flash(request, str(error), "error")
        return RedirectResponse("/for-you/start", status_code=303)
    if picked:
        flash(request, f"You follow {', '.join(sorted(picked))}; your page is ranked for you now.")
    return RedirectResponse("/for-you", status_code=303)


def _trending_papers(session, settings) -> list:
    last = reader.latest_day(session, "featured") or reader.latest_day(session, "all")
    if last is None:
        return []
    ids: list[str] = []
    # The last week's trending papers; a quiet week (one paper submitted today) is topped up
    # from further back, so a newcomer always has a dozen papers to pick from.
    for days in (FEED_DAYS, 90, None):
        first = last - timedelta(days=days - 1) if days else date(1991, 1, 1)
        ranked, _featured = trending.rank_period(
            session, first, last, gravity=settings.trending_gravity
        )
        for key in (str(r.key) for r in ranked[: ONBOARDING_PAPERS * 2]):
            if key not in ids:
                ids.append(key)
        if len(ids) >= ONBOARDING_PAPERS:
            break
    ids = ids[:ONBOARDING_PAPERS]
    papers = reader.load_papers(session, ids)
    return [Card.of(papers[i]) for i in ids if i in papers]


# --- the private feed ---


@router.get("/for-you/feed/{token}.rss")
@router.get("/for-you/feed/{token}.atom")
def private_feed(
    token: str, request: Request, session: DbSession, settings: AppSettings,
    recommender: Recommendations,
) -> Response:  # fmt: skip
    """The reader's recommendations among the last week's papers, behind their feed token."""
    user = reader_state.user_for_feed_token(session, token)
    if user is None:
        raise HTTPException(404, "No such feed: the link is wrong, or its token was revoked.")
    last = _latest_day(session)
    entries: list[FeedEntry] = []
    if last is not None:
        found = recommender.recommend(
            session, user.id, last - timedelta(days=FEED_DAYS - 1), last,
            page_size=settings.page_size,
        )  # fmt: skip
        entries = [FeedEntry(item.paper, _when(item)) for item in found.items]
    channel = Channel(
        title=f"{settings.site_name}: for {user.username}",
        description=f"Papers of the last {FEED_DAYS} days recommended for {user.username}.",
        page_path="/for-you",
        entries=entries,
    )
    response = feed_response(channel, request, settings)
    response.headers["Cache-Control"] = "private"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _when(item: recommend.Recommendation):
    """When a recommended paper joined the feed: its listing, else its publication."""
    return (item.entry.submitted_at if item.entry else None) or item.paper.published_at


# --- the forms that teach it ---


@router.post("/papers/{arxiv_id:path}/not-interested", dependencies=[CsrfChecked])
def toggle_not_interested(
    request: Request, arxiv_id: str, user: RequiredUser, next: FormText = ""
) -> Response:
    """Mark the paper "not interested", or undo it; back to the page the button was on."""
    canonical, _version = parse_arxiv_id(arxiv_id)
    with request.app.state.db.transaction() as session:
        now_dismissed = dismissals.toggle(session, user, canonical)
        title = " ".join(reader.load_papers(session, [canonical])[canonical].title.split())
    if now_dismissed:
        flash(request, f"Not interested in «{title[:80]}»: fewer papers like it.")
    else:
        flash(request, f"Undone: «{title[:80]}» counts again.")
    return RedirectResponse(safe_next(next, f"/papers/{canonical}"), status_code=303)


@router.post("/follows", dependencies=[CsrfChecked])
def follow(
    request: Request, user: RequiredUser, kind: FormText = "", label: FormText = "",
    next: FormText = "",
) -> Response:  # fmt: skip
    """Follow an author, organization, category or search (a second time changes nothing)."""
    try:
        with request.app.state.db.transaction() as session:
            made = follows.follow(session, user, kind, label)
    except Invalid as error:
        flash(request, str(error), "error")
    else:
        flash(request, f"You follow the {follows.KIND_NAMES[made.kind]} «{made.label}».")
    return RedirectResponse(safe_next(next, "/settings#recommender"), status_code=303)


@router.post("/follows/{follow_id:id}/delete", dependencies=[CsrfChecked])
def unfollow(request: Request, follow_id: int, user: RequiredUser, next: FormText = "") -> Response:
    """Stop following (someone else's follow id answers 404)."""
    with request.app.state.db.transaction() as session:
        gone = follows.unfollow(session, user, follow_id)
    flash(request, f"You no longer follow the {follows.KIND_NAMES[gone.kind]} «{gone.label}».")
    return RedirectResponse(safe_next(next, "/settings#recommender"), status_code=303)


@router.post("/settings/recommender/clear", dependencies=[CsrfChecked])
def clear_history(request: Request, user: RequiredUser) -> Response:
    """Forget what the recommender learned about the reader."""
    with request.app.state.db.transaction() as session:
        reader_state.clear_history(session, user)
    flash(request, "The recommender forgot your history; /for-you shows trending papers again.")
    return RedirectResponse("/settings#recommender", status_code=303)


@router.post("/settings/feed-token", dependencies=[CsrfChecked])
def new_feed_token(request: Request, settings: AppSettings, user: RequiredUser) -> Response:
    """Make the private feed's address (a new one replaces the old, which stops working)."""
    with request.app.state.db.transaction() as session:
        token = reader_state.new_feed_token(session, user)
    base = (settings.base_url or str(request.base_url)).rstrip("/")
    flash(request, f"Your private feed: {base}/for-you/feed/{token.secret}.rss (keep it secret).")
    return RedirectResponse("/settings#recommender", status_code=303)


@router.post("/settings/feed-token/revoke", dependencies=[CsrfChecked])
def revoke_feed_token(request: Request, user: RequiredUser) -> Response:
    with request.app.state.db.transaction() as session:
        reader_state.revoke_feed_token(session, user)
    flash(request, "Your private feed's address no longer works.")
    return RedirectResponse("/settings#recommender", status_code=303)


# --- periods ---


def _latest_day(session) -> date | None:
    days = [reader.latest_day(session, "featured"), reader.latest_day(session, "all")]
    known = [day for day in days if day is not None]
    return max(known) if known else None


def latest_period(session, kind: PeriodKind) -> Period | None:
    day = _latest_day(session)
    return Period.containing(kind, day) if day else None


def _neighbour(session, period: Period, *, before: bool) -> Period | None:
    """The closest earlier (or later) period with papers, featured or announced."""
    find = reader.day_before if before else reader.day_after
    edge = period.first if before else period.last
    days = [find(session, edge, "featured"), find(session, edge, "all")]
    known = [day for day in days if day is not None]
    if not known:
        return None
    return Period.containing(period.kind, max(known) if before else min(known))


def _card(item: recommend.Recommendation) -> Card:
    """The card of a recommendation: its listing in the period, else its announcement."""
    return Card.listed(item.entry) if item.entry else Card.announced(item.paper)


def _around(cards: list[tuple[Card, str]], period: Period, kind: PeriodKind) -> Period:
    """The day, week or month around this page (a day: the latest day of its papers)."""
    days = [card.day for card, _reason in cards if card.day]
    anchor = max(days) if days and period.kind != "day" else period.first
    return Period.containing(kind, min(max(anchor, period.first), period.last))
