"""Accounts: registration, password log-in with rate limiting, password changes, API tokens."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperfeed.core.clock import as_utc, utcnow
from paperfeed.core.errors import Refused
from paperfeed.domain import InvalidEmail, normalize_email
from paperfeed.store.dialect import rowcount
from paperfeed.store.models import USERNAME_MAX, ApiTokenRow, LoginFailureRow, UserRow

USERNAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{1,{USERNAME_MAX - 1}}}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
TOKEN_PREFIX = "pf_"
# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(Refused, ValueError):
    """A request about an account that cannot be granted; the message says why."""


class TooManyFailures(AccountError):
    """Log-ins for this username from this address are paused for a while."""

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(
            f"Too many failed log-ins for this username from your address; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            status=429,
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginLimit:
    """At most `max_failures` failed log-ins per username and address in `window`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class NewToken:
    """A token just created: the secret (shown once, never stored) and its stored row."""

    secret: str
    row: ApiTokenRow


def hash_password(password: str) -> str:
    """An argon2id hash of a password that meets the length rules."""
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """Raise AccountError unless the password is long enough and not absurdly long."""
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"The password needs at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"The password may have at most {PASSWORD_MAX} characters.")


def create_user(
    session: Session, username: str, email: str, password: str, *, admin: bool | None = None
) -> UserRow:
    """Register an account; admin=None makes the site's first account its admin.

    Raises AccountError for a bad or taken username, a bad email address or a weak password.
    The caller commits.
    """
    username = username.strip()
    if not USERNAME.match(username):
        raise AccountError(
            f"A username has 2 to {USERNAME_MAX} letters, digits, '-' or '_', "
            "and starts with a letter or digit."
        )
    email = email.strip()  # kept as typed; the digest compares its normalized form
    try:
        normalize_email(email)
    except InvalidEmail:
        raise AccountError("That does not look like an email address.") from None
    password_hash = hash_password(password)
    if get_user(session, username) is not None:
        raise AccountError(f"The username {username!r} is taken.")
    if admin is None:
        admin = session.scalar(select(UserRow.id).limit(1)) is None
    user = UserRow(
        username=username,
        email=email,
        password_hash=password_hash,
        is_admin=admin,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # registered by someone else at the same moment
        raise AccountError(f"The username {username!r} is taken.") from None
    return user


def get_user(session: Session, username: str) -> UserRow | None:
    """The account with this username, compared without regard to case."""
    return session.scalar(
        select(UserRow).where(func.lower(UserRow.username) == username.strip().lower())
    )


def get_user_by_id(session: Session, user_id: int) -> UserRow | None:
    """The account with this id, or None."""
    return session.get(UserRow, user_id)


def authenticate(
    session: Session,
    username: str,
    password: str,
    client: str,
    *,
    limit: LoginLimit = LoginLimit(),
    now: datetime | None = None,
) -> UserRow | None:
    """The account if the password is right, else None; raises TooManyFailures when paused.

    Failures are counted per (username, client address) in the database, so every worker
    process sees them; a success clears them. The caller commits (failures must be kept).
    """
    now = as_utc(now) if now else utcnow()
    key = _failure_key(username, client)
    since = now - limit.window
    failures = list(
        session.scalars(
            select(LoginFailureRow.at)
            .where(LoginFailureRow.key == key, LoginFailureRow.at > since)
            .order_by(LoginFailureRow.at)
        )
    )
    if len(failures) >= limit.max_failures:
        oldest_counted = failures[-limit.max_failures]
        wait = (oldest_counted + limit.window - now).total_seconds()
        raise TooManyFailures(max(1, math.ceil(wait)))
    user = get_user(session, username) if username.strip() else None
    right = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not right:
        session.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= since))
        session.add(LoginFailureRow(key=key, at=now))
        return None
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def change_password(session: Session, user: UserRow, current: str, new: str) -> UserRow:
    """Set a new password after checking the current one. The caller commits."""
    row = session.get(UserRow, user.id)
    if row is None or not _verify(row.password_hash, current):
        raise AccountError("The current password is not right.")
    row.password_hash = hash_password(new)
    return row


def create_token(
    session: Session, user: UserRow, name: str = "", *, days: int | None = None
) -> NewToken:
    """A new personal API token for `user`; only its SHA-256 is stored. The caller commits.

    `days` makes it expire; None keeps it until revoked.
    """
    name = " ".join(name.split())[:100] or "API token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiTokenRow(
        user_id=user.id,
        name=name,
        token_hash=_token_hash(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(row)
    session.flush()
    return NewToken(secret, row)


def user_for_token(session: Session, secret: str, *, now: datetime | None = None) -> UserRow | None:
    """The account a bearer token belongs to, or None if unknown, revoked or expired.

    Records when the token was last used (at most hourly); the caller commits.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = as_utc(now) if now else utcnow()
    token = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == _token_hash(secret)))
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(hours=1):
        # Coarse on purpose: one write an hour per token, not one per request.
        session.execute(
            update(ApiTokenRow).where(ApiTokenRow.id == token.id).values(last_used_at=now)
        )
    return session.get(UserRow, token.user_id)


def tokens_of(session: Session, user: UserRow) -> list[ApiTokenRow]:
    """The user's API tokens, newest first."""
    return list(
        session.scalars(
            select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user.id)
            .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id.desc())
        )
    )


def revoke_token(session: Session, user: UserRow, token_id: int) -> None:
    """Delete one of the user's tokens; someone else's token id is refused as unknown."""
    result = session.execute(
        delete(ApiTokenRow).where(ApiTokenRow.id == token_id, ApiTokenRow.user_id == user.id)
    )
    if rowcount(result) != 1:
        raise AccountError("No such token.")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(secret: str) -> str:
    # A 256-bit random token needs no slow KDF: SHA-256 cannot be brute-forced back.
    return hashlib.sha256(secret.encode()).hexdigest()


def _failure_key(username: str, client: str) -> str:
    return f"{username.strip().lower()[:200]}|{client[:90]}"
