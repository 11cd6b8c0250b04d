"""Account pages: register, log in, log out, and settings (password, API tokens)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.community import accounts
from paperfeed.community.accounts import AccountError, TooManyFailures
from paperfeed.core.errors import RateLimited
from paperfeed.store.models import UserRow
from paperfeed.web.auth import (
    CsrfChecked,
    CurrentUser,
    RequiredUser,
    client_address,
    log_in,
    log_out,
    rate_limit,
    safe_next,
)
from paperfeed.web.deps import Templates
from paperfeed.web.flash import flash

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

FormText = Annotated[str, Form()]


def _page(
    request: Request, templates: Templates, name: str, status: int = 200, **context: Any
) -> Response:
    context.setdefault("error", None)
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/register")
def register_form(request: Request, templates: Templates, user: CurrentUser, next: str = "/"):
    """The registration form (a logged-in visitor goes on to `next`)."""
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page(request, templates, "register.html", next=safe_next(next), username="", email="")


@router.post("/register", dependencies=[CsrfChecked])
def register(
    request: Request,
    templates: Templates,
    username: FormText = "",
    email: FormText = "",
    password: FormText = "",
    password_again: FormText = "",
    next: FormText = "/",
):
    """Create the account and log it in; the site's first account becomes its admin."""
    try:
        if password != password_again:
            raise AccountError("The two passwords differ.")
        rate_limit(request, "register")
        with request.app.state.db.transaction() as session:
            user = accounts.create_user(session, username, email, password)
    except (AccountError, RateLimited) as error:
        response = _page(
            request, templates, "register.html", error.status,
            error=str(error), next=safe_next(next), username=username, email=email,
        )  # fmt: skip
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response
    log_in(request, user)
    admin_note = " As the first account, you are this site's admin." if user.is_admin else ""
    flash(request, f"Welcome, {user.username}!{admin_note}")
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/login")
def login_form(request: Request, templates: Templates, user: CurrentUser, next: str = "/"):
    """The log-in form."""
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page(request, templates, "login.html", next=safe_next(next), username="")


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    templates: Templates,
    username: FormText = "",
    password: FormText = "",
    next: FormText = "/",
):
    """Check the password (rate limited per username and address) and start a session."""
    try:
        with request.app.state.db.transaction() as session:
            user = accounts.authenticate(
                session, username, password, client_address(request),
                limits=request.app.state.limits,
            )  # fmt: skip
    except TooManyFailures as error:
        response = _page(
            request, templates, "login.html", 429,
            error=str(error), next=safe_next(next), username=username,
        )  # fmt: skip
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response
    if user is None:
        return _page(
            request, templates, "login.html", 400,
            error="Wrong username or password.", next=safe_next(next), username=username,
        )  # fmt: skip
    log_in(request, user)
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/logout")
def logout_form(request: Request, templates: Templates, user: CurrentUser):
    """A button to log out (logging out by a bare link would let other sites do it)."""
    if user is None:
        return RedirectResponse("/", status_code=303)
    return _page(request, templates, "logout.html")


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request):
    """End the session."""
    log_out(request)
    flash(request, "You are logged out.")
    return RedirectResponse("/", status_code=303)


@router.get("/settings")
def settings_page(request: Request, templates: Templates, user: RequiredUser):
    """The account's settings: password and API tokens."""
    return _settings(request, templates, user)


@router.post("/settings/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    templates: Templates,
    user: RequiredUser,
    current_password: FormText = "",
    new_password: FormText = "",
    new_password_again: FormText = "",
):
    """Change the password; every other log-in of this account ends."""
    try:
        if new_password != new_password_again:
            raise AccountError("The two new passwords differ.")
        with request.app.state.db.transaction() as session:
            user = accounts.change_password(session, user, current_password, new_password)
    except AccountError as error:
        return _settings(request, templates, user, 400, password_error=str(error))
    log_in(request, user)
    flash(request, "Your password is changed; other sessions are logged out.")
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/tokens", dependencies=[CsrfChecked])
def create_token(request: Request, templates: Templates, user: RequiredUser, name: FormText = ""):
    """Make an API token and show it, this once (it is not stored, only its hash)."""
    rate_limit(request, "token", user)
    with request.app.state.db.transaction() as session:
        token = accounts.create_token(session, user, name)
    return _settings(request, templates, user, new_token=token.secret)


@router.post("/settings/tokens/{token_id:id}/revoke", dependencies=[CsrfChecked])
def revoke_token(request: Request, token_id: int, user: RequiredUser):
    """Revoke one of this account's tokens."""
    try:
        with request.app.state.db.transaction() as session:
            accounts.revoke_token(session, user, token_id)
    except AccountError as error:
        flash(request, str(error), "error")
    else:
        flash(request, "The token is revoked.")
    return RedirectResponse("/settings", status_code=303)


def _settings(
    request: Request, templates: Templates, user: UserRow, status: int = 200, **context: Any
) -> Response:
    with request.app.state.db.sessions() as session:
        tokens = accounts.tokens_of(session, user)
    context.setdefault("password_error", None)
    context.setdefault("new_token", None)
    page = _page(request, templates, "settings.html", status, user=user, tokens=tokens, **context)
    page.headers["Cache-Control"] = "no-store"  # never kept: it shows a new token once
    return page
