"""Accounts: registration, password log-in with rate limiting, password changes, API tokens.

Password hashing (argon2id, 64 MiB and about 0.3 s each) is the one expensive thing an anonymous
visitor can ask for, so it runs only after every cheap check (a taken name, the rate limits)
and at most HASHING_AT_ONCE at a time in a process: concurrent log-ins queue, memory stays flat.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperfeed.core.clock import as_utc, utcnow
from paperfeed.core.errors import RateLimited, Refused, Unavailable
from paperfeed.domain import InvalidEmail, normalize_email
from paperfeed.store.dialect import insert, rowcount
from paperfeed.store.models import (
    USERNAME_MAX,
    ApiTokenRow,
    CheckpointRow,
    LoginSessionRow,
    UserRow,
)

from .limits import Limits

USERNAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{1,{USERNAME_MAX - 1}}}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
TOKEN_PREFIX = "pf_"
# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")
HASHING_AT_ONCE = 2  # argon2 runs at once per process: 2 x 64 MiB at most
_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)
_HASHING_WAIT_S = 30.0
# The checkpoint row whose insert makes an account the site's first (its admin): the database's
# unique key decides between registrations at the same moment, on SQLite and PostgreSQL alike.
FIRST_ACCOUNT = "accounts.first"


class AccountError(Refused, ValueError):
    """A request about an account that cannot be granted; the message says why."""


class TooManyFailures(AccountError, RateLimited):
    """Log-ins from this address (for this username, or for any) are paused for a while."""

    status = 429

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, -(-retry_after_s // 60))
        Refused.__init__(
            self,
            f"Too many failed log-ins from your address; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        )
        self.retry_after_s = max(1, retry_after_s)


@dataclass(frozen=True)
class NewToken:
    """A token just created: the secret (shown once, never stored) and its stored row."""

    secret: str
    row: ApiTokenRow


def hash_password(password: str) -> str:
    """An argon2id hash of a password that meets the length rules."""
    check_password(password)
    with _argon2_slot():
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
    check_password(password)
    if get_user(session, username) is not None:
        raise AccountError(f"The username {username!r} is taken.")
    password_hash = hash_password(password)  # only now: hashing is the expensive part
    first = _claim_first_account(session)
    if admin is None:
        admin = first
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
    limits: Limits,
    now: datetime | None = None,
) -> UserRow | None:
    """The account if the password is right, else None; raises TooManyFailures when paused.

    Every try counts, before the password is checked, against two limits in the database (so
    every worker sees them): "login.user" per (username, address) and "login.addr" per address
    whatever the username, so trying many usernames pauses too, and a paused address costs no
    argon2 run. A right password takes its try back. The caller commits; the limits commit on
    their own connection, so call this before writing anything in `session` (SQLite has one
    writer at a time).
    """
    now = as_utc(now) if now else utcnow()
    checks = [("login.user", _failure_key(username, client)), ("login.addr", client[:90])]
    try:
        limits.hit(checks, now=now)
    except RateLimited as error:
        raise TooManyFailures(error.retry_after_s) from None
    user = get_user(session, username) if username.strip() else None
    right = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not right:
        return None
    limits.clear("login.user", checks[0][1], now=now)
    limits.refund("login.addr", checks[1][1], now=now)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def change_password(session: Session, user: UserRow, current: str, new: str) -> UserRow:
    """Set a new password after checking the current one. The caller commits.

    Every log-in and API token of the account ends with the old password: whoever knew it may
    have made them. The caller starts a new log-in for the browser that asked.
    """
    row = session.get(UserRow, user.id)
    if row is None or not _verify(row.password_hash, current):
        raise AccountError("The current password is not right.")
    row.password_hash = hash_password(new)
    session.execute(delete(LoginSessionRow).where(LoginSessionRow.user_id == row.id))
    session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == row.id))
    return row


def start_session(session: Session, user: UserRow, *, days: int) -> str:
    """A new log-in for `user`: the secret for the cookie (only its hash is kept). Commits left
    to the caller; expired log-ins of anyone are pruned on the way."""
    now = utcnow()
    session.execute(delete(LoginSessionRow).where(LoginSessionRow.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    session.add(
        LoginSessionRow(
            id_hash=_token_hash(secret),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    return secret


def user_for_session(session: Session, secret: str) -> UserRow | None:
    """The account of a live log-in, or None (ended, expired or never made)."""
    if not secret or len(secret) > 200:
        return None
    return session.scalar(
        select(UserRow)
        .join(LoginSessionRow, LoginSessionRow.user_id == UserRow.id)
        .where(
            LoginSessionRow.id_hash == _token_hash(secret), LoginSessionRow.expires_at > utcnow()
        )
    )


def end_session(session: Session, secret: str) -> None:
    """Log out: the log-in's cookie stops working, wherever a copy of it is."""
    session.execute(delete(LoginSessionRow).where(LoginSessionRow.id_hash == _token_hash(secret)))


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
        with _argon2_slot():
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class _argon2_slot:
    """One of the process's HASHING_AT_ONCE argon2 slots, waited for a while (503 if busy)."""

    def __enter__(self) -> None:
        if not _hashing.acquire(timeout=_HASHING_WAIT_S):
            raise Unavailable("The site is busy checking passwords; try again in a minute.")

    def __exit__(self, *exc: object) -> None:
        _hashing.release()


def _claim_first_account(session: Session) -> bool:
    """Whether this registration is the site's first (the checkpoint row went in just now)."""
    statement = insert(session, CheckpointRow.__table__).values(
        key=FIRST_ACCOUNT, state={}, updated_at=utcnow()
    )
    inserted = session.execute(
        statement.on_conflict_do_nothing(index_elements=["key"]).returning(CheckpointRow.key)
    ).first()
    return inserted is not None


def _token_hash(secret: str) -> str:
    # A 256-bit random token needs no slow KDF: SHA-256 cannot be brute-forced back.
    return hashlib.sha256(secret.encode()).hexdigest()


def _failure_key(username: str, client: str) -> str:
    return f"{username.strip().lower()[:200]}|{client[:90]}"
