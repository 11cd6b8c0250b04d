"""Accounts: registration rules, argon2 passwords, the first admin, rate-limited log-in, tokens."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from support.accounts import PASSWORD, make_user

from paperfeed.community import accounts
from paperfeed.community.accounts import AccountError, TooManyFailures
from paperfeed.community.limits import Limits, Rate
from paperfeed.core.clock import utcnow
from paperfeed.store.db import Database
from paperfeed.store.models import ApiTokenRow, RateLimitRow, UserRow


def _limits(db: Database, per_user: int = 5, per_address: int = 20) -> Limits:
    return Limits(
        db.sessions,
        {"login.user": Rate(per_user, 15 * 60), "login.addr": Rate(per_address, 15 * 60)},
    )


def test_the_first_account_is_the_admin_and_passwords_are_argon2(db: Database) -> None:
    first = make_user(db, "ada", admin=None)
    second = make_user(db, "bob", admin=None)

    assert first.is_admin and not second.is_admin
    assert first.password_hash.startswith("$argon2id$")
    assert PASSWORD not in first.password_hash
    assert first.password_hash != second.password_hash  # salted


@pytest.mark.parametrize(
    ("username", "email", "password", "problem"),
    [
        ("a", "a@example.org", PASSWORD, "username"),
        ("has space", "a@example.org", PASSWORD, "username"),
        ("<script>", "a@example.org", PASSWORD, "username"),
        ("x" * 41, "a@example.org", PASSWORD, "username"),
        ("carol", "not-an-address", PASSWORD, "email"),
        ("carol", "c@example.org", "short", "at least 8"),
        ("carol", "c@example.org", "x" * 1025, "at most 1024"),
    ],
)
def test_bad_registrations_are_refused_with_a_reason(
    sqlite_db: Database, username: str, email: str, password: str, problem: str
) -> None:
    with pytest.raises(AccountError, match=problem), sqlite_db.transaction() as session:
        accounts.create_user(session, username, email, password)
    with sqlite_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(UserRow)) == 0


def test_a_username_is_taken_whatever_its_case(db: Database) -> None:
    make_user(db, "Dora")
    with pytest.raises(AccountError, match="taken"), db.transaction() as session:
        accounts.create_user(session, "dora", "d2@example.org", PASSWORD)


def test_the_database_refuses_a_username_in_another_case(db: Database) -> None:
    """Two registrations racing past the code's check still cannot make "Eve" and "eve"."""
    make_user(db, "Eve")
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(
            UserRow(username="eve", email="e2@example.org", password_hash="x", created_at=utcnow())
        )


def test_log_in_checks_the_password_and_pauses_after_repeated_failures(db: Database) -> None:
    make_user(db, "erin")
    limits = _limits(db, per_user=3)
    now = utcnow().replace(minute=0, second=1)  # early in a 15-minute window

    def attempt(password: str, client: str = "10.0.0.1", at=now):
        with db.transaction() as session:
            return accounts.authenticate(session, "erin", password, client, limits=limits, now=at)

    assert attempt(PASSWORD).username == "erin"
    assert attempt("wrong") is None and attempt("wrong") is None and attempt("wrong") is None
    with pytest.raises(TooManyFailures, match="try again in 15 minutes") as paused:
        attempt(PASSWORD)  # even the right password waits: the limit is per username+address
    assert 0 < paused.value.retry_after_s <= 15 * 60
    assert attempt(PASSWORD, client="10.0.0.2").username == "erin"  # another address is not paused
    assert attempt(PASSWORD, at=now + timedelta(minutes=16)).username == "erin"  # window passed
    with db.sessions() as session:  # a success clears that key's failures; old ones are pruned
        keys = list(session.scalars(select(RateLimitRow.key).where(RateLimitRow.hits > 0)))
    assert not [key for key in keys if key.startswith("login.user|erin|10.0.0.1|")]
    assert not [key for key in keys if key.startswith("login.user|erin|10.0.0.2|")]


def test_unknown_usernames_fail_like_wrong_passwords_and_count_too(sqlite_db: Database) -> None:
    limits = _limits(sqlite_db, per_user=2)
    for _ in range(2):
        with sqlite_db.transaction() as session:
            user = accounts.authenticate(session, "ghost", "whatever1", "1.2.3.4", limits=limits)
            assert user is None
    with pytest.raises(TooManyFailures), sqlite_db.transaction() as session:
        accounts.authenticate(session, "ghost", "whatever1", "1.2.3.4", limits=limits)


def test_trying_many_usernames_from_one_address_pauses_it_without_hashing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit finding: failures were limited per username and address only, so an address trying
    a new username each time was never paused, and every try ran argon2 (64 MiB, 0.3 s)."""
    limits = _limits(db, per_user=5, per_address=4)
    verified: list[str] = []
    real_verify = accounts._verify
    monkeypatch.setattr(accounts, "_verify", lambda h, p: verified.append(p) or real_verify(h, p))
    for number in range(4):
        with db.transaction() as session:
            user = accounts.authenticate(session, f"u{number}", "pw", "10.9.9.9", limits=limits)
            assert user is None
    with pytest.raises(TooManyFailures), db.transaction() as session:
        accounts.authenticate(session, "u99", "pw", "10.9.9.9", limits=limits)
    assert len(verified) == 4  # the paused try cost no argon2 run
    with db.transaction() as session:  # other addresses are not paused
        assert accounts.authenticate(session, "u99", "pw", "10.9.9.8", limits=limits) is None


def test_argon2_runs_at_most_a_few_at_a_time(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit finding: 8 concurrent failed log-ins took 1.9 s each and 400 MB more memory."""
    running, peak, lock = [0], [0], threading.Lock()
    real = accounts._hasher

    class CountingHasher:
        def verify(self, hash_: str, password: str) -> bool:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return real.verify(hash_, password)
            finally:
                with lock:
                    running[0] -= 1

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    limits = _limits(sqlite_db, per_user=100, per_address=100)

    def attempt(number: int) -> None:
        with sqlite_db.transaction() as session:
            accounts.authenticate(session, f"n{number}", "pw", f"10.0.1.{number}", limits=limits)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(attempt, range(8)))
    assert peak[0] == accounts.HASHING_AT_ONCE


def test_a_taken_username_is_refused_before_the_password_is_hashed(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(sqlite_db, "zed")
    hashed: list[str] = []
    monkeypatch.setattr(accounts, "hash_password", lambda p: hashed.append(p) or "x")
    with pytest.raises(AccountError, match="taken"), sqlite_db.transaction() as session:
        accounts.create_user(session, "Zed", "z2@example.org", PASSWORD)
    assert hashed == []


def test_concurrent_first_registrations_make_one_admin(db: Database) -> None:
    """Audit finding: on a fresh site, three concurrent registrations all became admin."""

    def register(number: int) -> bool:
        with db.transaction() as session:
            user = accounts.create_user(
                session, f"first{number}", f"f{number}@example.org", PASSWORD
            )
            return user.is_admin

    with ThreadPoolExecutor(4) as pool:
        admins = list(pool.map(register, range(4)))
    assert sorted(admins) == [False, False, False, True]


def test_changing_the_password_needs_the_current_one(sqlite_db: Database) -> None:
    user = make_user(sqlite_db, "fay")
    with pytest.raises(AccountError, match="current password"), sqlite_db.transaction() as s:
        accounts.change_password(s, user, "not it at all", "a new password")
    with sqlite_db.transaction() as session:
        accounts.change_password(session, user, PASSWORD, "a new password")
    limits = _limits(sqlite_db)
    with sqlite_db.transaction() as session:
        assert accounts.authenticate(session, "fay", PASSWORD, "c", limits=limits) is None
        changed = accounts.authenticate(session, "fay", "a new password", "c", limits=limits)
        assert changed.username == "fay"


def test_api_tokens_are_stored_hashed_and_stop_working_when_revoked_or_expired(
    db: Database,
) -> None:
    user = make_user(db, "gus")
    other = make_user(db, "hal")
    with db.transaction() as session:
        token = accounts.create_token(session, user, "script")
        short = accounts.create_token(session, user, "short-lived", days=1)
    with db.sessions() as session:
        stored = list(session.scalars(select(ApiTokenRow.token_hash)))
    assert token.secret.startswith("pf_") and len(token.secret) > 40
    assert token.secret not in stored and len(stored) == 2

    with db.transaction() as session:
        assert accounts.user_for_token(session, token.secret).username == "gus"
        assert accounts.user_for_token(session, token.secret + "x") is None
        assert accounts.user_for_token(session, "Bearer nonsense") is None
        later = utcnow() + timedelta(days=2)
        assert accounts.user_for_token(session, short.secret, now=later) is None  # expired
        assert accounts.user_for_token(session, short.secret).username == "gus"
    with pytest.raises(AccountError, match="No such token"), db.transaction() as session:
        accounts.revoke_token(session, other, token.row.id)  # someone else's token id
    with db.transaction() as session:
        accounts.revoke_token(session, user, token.row.id)
    with db.transaction() as session:
        assert accounts.user_for_token(session, token.secret) is None
        assert [t.name for t in accounts.tokens_of(session, user)] == ["short-lived"]


def test_log_ins_end_on_logout_and_everything_on_a_password_change(db: Database) -> None:
    """Audit findings: logout left the cookie valid; API tokens survived a password change."""
    user = make_user(db, "ivy")
    with db.transaction() as session:
        laptop = accounts.start_session(session, user, days=14)
        phone = accounts.start_session(session, user, days=14)
        token = accounts.create_token(session, user, "script")
    with db.transaction() as session:
        assert accounts.user_for_session(session, laptop).username == "ivy"
        accounts.end_session(session, laptop)
    with db.transaction() as session:
        assert accounts.user_for_session(session, laptop) is None
        assert accounts.user_for_session(session, phone).username == "ivy"
        accounts.change_password(session, user, PASSWORD, "another password")
    with db.transaction() as session:
        assert accounts.user_for_session(session, phone) is None
        assert accounts.user_for_token(session, token.secret) is None
        assert accounts.user_for_session(session, "made up") is None
