"""Who is asking: session log-ins, bearer tokens, CSRF tokens, and dependencies requiring them.

Pages use a signed session cookie (Starlette's SessionMiddleware, itsdangerous underneath) that
holds the secret of a log-in kept in the database (logging out or changing the password deletes
it, so a copied cookie stops working) and the CSRF token every POST form carries as
`csrf_token`. The JSON API under
/api counts only `Authorization: Bearer` tokens, never the cookie, so another site cannot make a
visitor's browser call it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from paperfeed.community import accounts, votes
from paperfeed.community.limits import BATCHED_ACTIONS
from paperfeed.core.secrets import site_secret
from paperfeed.settings import Settings
from paperfeed.store.models import UserRow
from paperfeed.web.errors import error_response
from paperfeed.web.flash import pop_flashes

CSRF_FIELD = "csrf_token"
LOGIN_FIELD = "sid"  # the session key holding the secret of a log-in
_USER = "paperfeed_user"  # request.state attribute caching the resolved user
_NO_USER = object()


class LoginRequired(Exception):
    """The request needs a logged-in user: pages redirect to /login, the API answers 401."""

    def __init__(self, message: str = "Log in to do this.") -> None:
        super().__init__(message)
        self.message = message


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Sessions, the login-required handler and the template globals, on `app`."""
    app.state.signing_key = signing_key(settings)
    app.state.trusted_proxies = [
        ipaddress.ip_network(net, strict=False) for net in settings.trusted_proxies
    ]
    app.add_middleware(
        SessionMiddleware,
        secret_key=app.state.signing_key,
        session_cookie="paperfeed_session",
        max_age=settings.session_days * 24 * 3600,
        same_site="lax",
        https_only=settings.cookie_secure or settings.https,
    )
    app.add_exception_handler(LoginRequired, _login_required)
    app.state.templates.env.globals.update(
        csrf_token=csrf_token, viewer=current_user, upvoted=upvoted, flashes=pop_flashes
    )


def signing_key(settings: Settings) -> str:
    """The site's secret: PAPERFEED_SECRET_KEY, else one generated once into the home (0600)."""
    return site_secret(settings)  # one key, one file, for sessions and mailed links alike


def current_user(request: Request) -> UserRow | None:
    """The logged-in user: a bearer token under /api, the session cookie elsewhere; or None."""
    cached = getattr(request.state, _USER, None)
    if cached is not None:
        return None if cached is _NO_USER else cached
    user = _resolve(request)
    setattr(request.state, _USER, user if user is not None else _NO_USER)
    return user


def require_user(request: Request) -> UserRow:
    """The logged-in user, or LoginRequired (redirect to /login for pages, 401 for the API)."""
    user = current_user(request)
    if user is not None:
        return user
    if _is_api(request):
        given = request.headers.get("authorization", "")
        if given:
            raise LoginRequired("The API token is not valid, or it was revoked or expired.")
        raise LoginRequired("This needs an API token: send 'Authorization: Bearer <token>'.")
    raise LoginRequired()


def require_admin(request: Request) -> UserRow:
    """The logged-in user if an admin, else 403."""
    user = require_user(request)
    if not user.is_admin:
        raise HTTPException(403, "Only an admin may do this.")
    return user


async def verify_csrf(request: Request) -> None:
    """Refuse (403) a form POST whose `csrf_token` field is not this session's token."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(
            403, "The form is out of date or did not come from this site; reload it and retry."
        )


def csrf_token(request: Request) -> str:
    """This session's CSRF token for a hidden `csrf_token` input (made on first use)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def upvoted(request: Request, paper_id: str) -> bool:
    """Whether the logged-in viewer has upvoted the paper (their votes load once a request)."""
    user = current_user(request)
    if user is None:
        return False
    ids = getattr(request.state, "paperfeed_upvoted", None)
    if ids is None:
        with request.app.state.db.sessions() as session:
            ids = votes.upvoted_ids(session, user)
        request.state.paperfeed_upvoted = ids
    return paper_id in ids


def log_in(request: Request, user: UserRow) -> None:
    """Start a log-in for `user` (a fresh CSRF token too); any earlier one of this browser ends."""
    days = request.app.state.settings.session_days
    with request.app.state.db.transaction() as session:
        if isinstance(request.session.get(LOGIN_FIELD), str):
            accounts.end_session(session, request.session[LOGIN_FIELD])
        secret = accounts.start_session(session, user, days=days)
    request.session.clear()
    request.session[LOGIN_FIELD] = secret
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    setattr(request.state, _USER, user)


def log_out(request: Request) -> None:
    """End the log-in here and on the server: a copy of the cookie stops working too."""
    sid = request.session.get(LOGIN_FIELD)
    if isinstance(sid, str):
        with request.app.state.db.transaction() as session:
            accounts.end_session(session, sid)
    request.session.clear()
    setattr(request.state, _USER, _NO_USER)


def client_address(request: Request) -> str:
    """The client's address: the peer, or what X-Forwarded-For says behind a trusted proxy.

    The header is believed only from PAPERFEED_TRUSTED_PROXIES, and only as far as the chain of
    trusted proxies goes: the last address in it that is not one of them is the client.
    """
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.trusted_proxies
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:90]
    return peer


def rate_limit(request: Request, action: str, user: UserRow | None = None) -> None:
    """Count this request against `action`'s limits per address and per account (429 if over)."""
    checks = [(f"{action}.addr", client_address(request))]
    if user is not None:
        checks.append((f"{action}.user", str(user.id)))
    if action in BATCHED_ACTIONS:  # counted in memory, written to the database in batches
        request.app.state.batched_limits.hit(checks)
    else:
        request.app.state.limits.hit(checks)


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default`: no open redirects."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_url(next_path: str) -> str:
    """/login, coming back to `next_path` afterwards."""
    return f"/login?next={quote(safe_next(next_path), safe='/')}"


def _resolve(request: Request) -> UserRow | None:
    if _is_api(request):
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        with request.app.state.db.sessions() as session:
            user = accounts.user_for_token(session, secret.strip())
            session.commit()
            return user
    sid = request.session.get(LOGIN_FIELD)
    if not isinstance(sid, str):
        return None
    with request.app.state.db.sessions() as session:
        user = accounts.user_for_session(session, sid)
    if user is None:
        request.session.pop(LOGIN_FIELD, None)
    return user


def _is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    if _is_api(request):
        response = error_response(request, 401, error.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if request.method == "GET":
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # a form posted while logged out: come back to the page it was on
        back = urlsplit(request.headers.get("referer", "")).path or "/"
    return RedirectResponse(login_url(back), status_code=303)


CurrentUser = Annotated[UserRow | None, Depends(current_user)]
RequiredUser = Annotated[UserRow, Depends(require_user)]
AdminUser = Annotated[UserRow, Depends(require_admin)]
CsrfChecked = Depends(verify_csrf)
