"""`paperfeed user create` and `paperfeed token create`, run as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from paperfeed.community import accounts
from paperfeed.community.limits import DEFAULT_RATES, Limits
from paperfeed.store.db import Database


def _cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", *args],
        input=stdin,
        env={**os.environ, "PAPERFEED_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_operators_create_users_and_tokens(sqlite_db: Database) -> None:
    db, url = sqlite_db, sqlite_db.url
    made = _cli(url, "user", "create", "root", "--email", "root@example.org",
                "--password-stdin", "--admin", stdin="a long password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout == "created admin root\n"
    token = _cli(url, "token", "create", "root")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    with db.transaction() as session:
        assert accounts.user_for_token(session, secret).username == "root"
    with db.transaction() as session:
        limits = Limits(db.sessions, DEFAULT_RATES)
        user = accounts.authenticate(session, "root", "a long password", "cli", limits=limits)
        assert user is not None and user.is_admin


def test_refusals_are_one_clear_line_and_status_1(sqlite_db: Database) -> None:
    url = sqlite_db.url
    weak = _cli(url, "user", "create", "kim", "--email", "kim@example.org", "--password-stdin",
                stdin="short\n")  # fmt: skip
    assert weak.returncode == 1
    assert weak.stderr == "error: The password needs at least 8 characters.\n"
    nobody = _cli(url, "token", "create", "nobody")
    assert (nobody.returncode, nobody.stderr) == (1, "error: no user 'nobody'\n")
    no_stdin = _cli(url, "user", "create", "kim", "--email", "kim@example.org")
    assert no_stdin.returncode == 2 and "--password-stdin" in no_stdin.stderr
