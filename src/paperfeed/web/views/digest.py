"""Digest pages: subscribe (double opt-in), confirm, preferences, leave by signed link, preview.

Pages reached from a mail are authenticated by the signed token in their link, so their forms need
no CSRF token (RFC 8058's one-click POST carries none); the public subscribe form carries one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import ValidationError

from paperfeed.digest import delivery, service, subscriptions
from paperfeed.digest.delivery import RetryPolicy
from paperfeed.digest.subscriptions import Frequency, Interests
from paperfeed.digest.tokens import InvalidToken, Purpose
from paperfeed.domain import InvalidEmail
from paperfeed.store.models import SubscriptionRow
from paperfeed.web.auth import CsrfChecked, CurrentUser, RequiredUser
from paperfeed.web.deps import AppSettings, DbSession, Templates

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

FormText = Annotated[str, Form()]
# The web site tries a confirmation mail briefly; the schedule and `digest send` retry it later.
_WEB_RETRY = RetryPolicy(attempts=2, first_wait_s=0.5, max_wait_s=2.0)


def _page(
    request: Request, templates: Templates, name: str, status: int = 200, **context: Any
) -> Response:
    context.setdefault("error", None)
    return templates.TemplateResponse(request, f"digest/{name}", context, status_code=status)


def _message(
    request: Request, templates: Templates, title: str, text: str, status: int = 200, **more: Any
) -> Response:
    return _page(request, templates, "message.html", status, title=title, text=text, **more)


def _interests(categories: str, keywords: str, organizations: str) -> Interests:
    return Interests(categories=categories, keywords=keywords, organizations=organizations)


def _problem(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


@router.get("/digest/subscribe")
def subscribe_form(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    templates: Templates,
    user: CurrentUser,
) -> Response:
    """The full form; a logged-in user also sees their own subscription and where to change it."""
    current = _own_subscription(session, user) if user else None
    preferences = None
    if current is not None:
        token = service.token_for(settings, "preferences", current)
        preferences = f"/digest/preferences?{urlencode({'token': token})}"
    return _page(
        request,
        templates,
        "subscribe.html",
        email=user.email if user else "",
        frequency="daily",
        categories="",
        keywords="",
        organizations="",
        current=current,
        preferences=preferences,
    )


def _own_subscription(session: DbSession, user) -> SubscriptionRow | None:
    """The subscription linked to the account (by a request its address confirmed).

    Never looked up by the account's address alone: that address was never verified, so anyone
    could register with someone else's and read or change their subscription.
    """
    return subscriptions.by_user(session, user.id)


@router.post("/digest/subscribe", dependencies=[CsrfChecked])
def subscribe(
    request: Request,
    background: BackgroundTasks,
    templates: Templates,
    settings: AppSettings,
    user: CurrentUser,
    email: FormText = "",
    frequency: Annotated[Frequency, Form()] = "daily",
    categories: FormText = "",
    keywords: FormText = "",
    organizations: FormText = "",
) -> Response:
    """Record the request and mail a confirmation link; nothing else is sent before it is used."""
    db = request.app.state.db
    try:
        interests = _interests(categories, keywords, organizations)
        # Linked to the account (for "for you") only when it is the account's own address.
        own = user is not None and user.email.strip().lower() == email.strip().lower()
        subscription_id, address = service.subscribe(
            db, settings, email, frequency, interests, user_id=user.id if own and user else None
        )
    except (InvalidEmail, ValidationError) as error:
        message = _problem(error) if isinstance(error, ValidationError) else str(error)
        return _page(
            request,
            templates,
            "subscribe.html",
            422,
            error=message,
            email=email,
            frequency=frequency,
            categories=categories,
            keywords=keywords,
            organizations=organizations,
        )
    background.add_task(
        delivery.deliver, db, settings, subscription_id=subscription_id, retry=_WEB_RETRY
    )
    return _message(
        request,
        templates,
        "Check your inbox",
        f"We sent a link to {address}. Your subscription starts when you follow it; "
        "until then nothing else is sent.",
    )


def _linked(purpose: Purpose):
    """A dependency: the subscription the request's signed `token` names (InvalidToken: 400)."""

    def subscription(session: DbSession, settings: AppSettings, token: str = "") -> SubscriptionRow:
        return service.subscription_for_token(session, settings, purpose, token)

    return Depends(subscription)


@router.get("/digest/confirm")
def confirm_form(
    request: Request,
    templates: Templates,
    row: Annotated[SubscriptionRow, _linked("confirm")],
    token: str = "",
) -> Response:
    """A button that confirms: a mail scanner that fetches links does not subscribe anyone."""
    if row.status == "active":
        return _message(
            request,
            templates,
            "You are subscribed",
            f"This address already gets the {row.frequency} digest.",
        )
    return _page(request, templates, "confirm.html", token=token, subscription=row)


@router.post("/digest/confirm")
def confirm(
    request: Request, settings: AppSettings, templates: Templates, token: FormText = ""
) -> Response:
    """Make the subscription active."""
    with request.app.state.db.transaction() as session:
        row = service.subscription_for_token(session, settings, "confirm", token)
        if row.status not in ("pending", "active"):
            raise InvalidToken("This address left; subscribe again to get digests.")
        subscriptions.confirm(session, row)
        frequency = row.frequency
        preferences = service.renderer(settings).links(row)["preferences"]
    return _message(
        request,
        templates,
        "You are subscribed",
        f"The {frequency} digest of trending papers will come to this address.",
        link=preferences,
        link_text="Change what you get",
    )


def _token(request: Request, form_token: str) -> str:
    return form_token or request.query_params.get("token", "")


@router.get("/digest/unsubscribe")
def unsubscribe_form(
    request: Request,
    templates: Templates,
    row: Annotated[SubscriptionRow, _linked("unsubscribe")],
    token: str = "",
) -> Response:
    """A button that leaves (a GET changes nothing: link checkers fetch links)."""
    return _page(request, templates, "unsubscribe.html", token=token, subscription=row)


@router.post("/digest/unsubscribe")
def unsubscribe(
    request: Request, settings: AppSettings, templates: Templates, token: FormText = ""
) -> Response:
    """Leave: the page's button, or the RFC 8058 one-click POST to the List-Unsubscribe URL."""
    with request.app.state.db.transaction() as session:
        row = service.subscription_for_token(
            session, settings, "unsubscribe", _token(request, token)
        )
        subscriptions.unsubscribe(session, row)
        address = row.email
    return _message(
        request,
        templates,
        "You are unsubscribed",
        f"No more digests will be sent to {address}. Subscribing again from any feed page "
        "brings them back.",
    )


@router.get("/digest/preferences")
def preferences_form(
    request: Request,
    templates: Templates,
    row: Annotated[SubscriptionRow, _linked("preferences")],
    token: str = "",
) -> Response:
    """What the address receives, to change without logging in."""
    return _preferences(request, templates, token, row)


def _preferences(
    request: Request,
    templates: Templates,
    token: str,
    row: SubscriptionRow,
    status: int = 200,
    **context: Any,
) -> Response:
    unsubscribe_token = service.token_for(request.app.state.settings, "unsubscribe", row)
    context.setdefault("frequency", row.frequency)
    context.setdefault("categories", ", ".join(row.categories or []))
    context.setdefault("keywords", ", ".join(row.keywords or []))
    context.setdefault("organizations", ", ".join(row.organizations or []))
    return _page(
        request,
        templates,
        "preferences.html",
        status,
        token=token,
        subscription=row,
        unsubscribe_token=unsubscribe_token,
        **context,
    )


@router.post("/digest/preferences")
def save_preferences(
    request: Request,
    settings: AppSettings,
    templates: Templates,
    token: FormText = "",
    frequency: Annotated[Frequency, Form()] = "daily",
    categories: FormText = "",
    keywords: FormText = "",
    organizations: FormText = "",
) -> Response:
    """Save new preferences."""
    with request.app.state.db.transaction() as session:
        row = service.subscription_for_token(session, settings, "preferences", token)
        try:
            interests = _interests(categories, keywords, organizations)
        except ValidationError as error:
            return _preferences(
                request,
                templates,
                token,
                row,
                422,
                error=_problem(error),
                frequency=frequency,
                categories=categories,
                keywords=keywords,
                organizations=organizations,
            )
        subscriptions.update(session, row, frequency, interests)
        return _preferences(request, templates, token, row, saved=True)


@router.get("/digest/preview")
def preview(
    session: DbSession,
    settings: AppSettings,
    user: RequiredUser,
    period: Annotated[Frequency | None, Query()] = None,
    day: Annotated[date | None, Query(alias="date")] = None,
    format: Annotated[Literal["html", "text"], Query()] = "html",
) -> Response:
    """The logged-in user's next digest as the mail would show it, without sending it."""
    row = _own_subscription(session, user)
    if row is None:  # not subscribed: what the default digest would be
        row = service.unsaved_subscription(user.email, user.id)
    shown = service.preview(session, settings, row, period, day)
    if shown is None:
        return PlainTextResponse("No papers yet: import some to preview a digest.", 404)
    headers = {"X-Preview-Note": shown.note} if shown.note else None
    if format == "text":
        return PlainTextResponse(shown.text, headers=headers)
    return HTMLResponse(shown.html, headers=headers)
