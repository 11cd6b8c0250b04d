"""Rate limits: one counter table, atomic caps on both databases, windows and Retry-After."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from paperfeed.community.limits import DEFAULT_RATES, Limits, Rate, rates_from_settings
from paperfeed.core.errors import RateLimited
from paperfeed.settings import Settings
from paperfeed.store.db import Database


def test_a_cap_holds_under_concurrent_hits(db: Database) -> None:
    limits = Limits(db.sessions, {"thing.user": Rate(5, 86400)})

    def try_once(_: int) -> bool:
        try:
            limits.hit([("thing.user", "7")])
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        passed = list(pool.map(try_once, range(16)))
    assert passed.count(True) == 5
    assert limits.used("thing.user", "7") == 5


def test_windows_refusals_and_retry_after(db: Database) -> None:
    limits = Limits(db.sessions, {"a.addr": Rate(2, 3600), "a.user": Rate(10, 3600)})
    start = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    limits.hit([("a.addr", "1.2.3.4"), ("a.user", "1")], now=start)
    limits.hit([("a.addr", "1.2.3.4"), ("a.user", "1")], now=start + timedelta(minutes=1))
    with pytest.raises(RateLimited) as refused:
        limits.hit([("a.addr", "1.2.3.4"), ("a.user", "1")], now=start + timedelta(minutes=20))
    assert refused.value.status == 429 and refused.value.retry_after_s == 40 * 60
    assert "try again in 40 minutes" in str(refused.value)
    # A refused request counts nowhere: the account's counter did not move.
    assert limits.used("a.user", "1", now=start) == 2
    limits.hit([("a.addr", "1.2.3.4")], now=start + timedelta(hours=1))  # the next window
    limits.hit([("b.unlimited", "x")] * 50, now=start)  # an action without a rate is not limited


def test_rates_come_from_settings() -> None:
    settings = Settings(
        rate_limits={"comment.user": "3/10m"}, submit_daily_cap=2, login_max_failures=4
    )
    rates = rates_from_settings(settings)
    assert rates["comment.user"] == Rate(3, 600)
    assert rates["submit.user"] == Rate(2, 86400)
    assert rates["login.user"] == Rate(4, 900)
    assert rates["search.addr"] == DEFAULT_RATES["search.addr"]
    with pytest.raises(ValueError, match="not a rate"):
        rates_from_settings(Settings(rate_limits={"vote.user": "lots"}))
