"""Periods: parsing days, ISO weeks and months from URLs, and naming them for people."""

from __future__ import annotations

from datetime import date

import pytest

from paperfeed.feed import InvalidPeriod, Period, parse_period


def test_a_day_is_one_day() -> None:
    day = parse_period("day", "2025-06-10")

    assert (day.first, day.last) == (date(2025, 6, 10), date(2025, 6, 10))
    assert day.slug == "2025-06-10"
    assert day.label == "Tuesday, 10 June 2025"


def test_an_iso_week_runs_monday_to_sunday_and_may_start_in_the_previous_year() -> None:
    week = parse_period("week", "2025-W01")

    assert (week.first, week.last) == (date(2024, 12, 30), date(2025, 1, 5))
    assert week.slug == "2025-W01"
    assert week.label == "Week 1, 2025"
    assert week.span == "30 December 2024 \u2013 5 January 2025"


def test_a_year_with_53_iso_weeks_has_a_week_53() -> None:
    assert parse_period("week", "2026-W53").first == date(2026, 12, 28)


def test_a_month_runs_to_its_last_day_leap_years_included() -> None:
    month = parse_period("month", "2024-02")

    assert (month.first, month.last) == (date(2024, 2, 1), date(2024, 2, 29))
    assert month.slug == "2024-02"
    assert month.label == "February 2024"
    assert month.span == "1 \u2013 29 February 2024"


@pytest.mark.parametrize(
    ("kind", "day", "first", "last"),
    [
        ("day", date(2025, 6, 14), date(2025, 6, 14), date(2025, 6, 14)),
        ("week", date(2025, 6, 14), date(2025, 6, 9), date(2025, 6, 15)),
        ("month", date(2025, 6, 14), date(2025, 6, 1), date(2025, 6, 30)),
        ("week", date(9999, 12, 31), date(9999, 12, 27), date(9999, 12, 31)),
    ],
)
def test_the_period_containing_a_day(kind, day: date, first: date, last: date) -> None:
    assert Period.containing(kind, day) == Period(kind, first, last)


def test_slugs_parse_back_to_the_same_period() -> None:
    for kind in ("day", "week", "month"):
        period = Period.containing(kind, date(2025, 12, 31))
        assert parse_period(kind, period.slug) == period


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("day", "2025-02-30", "'2025-02-30' is not a valid day: day is out of range for month"),
        ("day", "2025-6-1", "write it as YYYY-MM-DD, e.g. 2025-06-10"),
        ("day", "20250610", "write it as YYYY-MM-DD"),
        ("day", "2025-W24-2", "write it as YYYY-MM-DD"),
        ("day", "0000-01-01", "not a valid day"),
        ("week", "2025-W53", "'2025-W53' is not a valid week"),
        ("week", "2025-W00", "not a valid week"),
        ("week", "2025-w24", "write it as YYYY-Www (ISO week), e.g. 2025-W24"),
        ("month", "2025-13", "not a valid month"),
        ("month", "2025-6", "write it as YYYY-MM, e.g. 2025-06"),
        ("month", "<script>", "is not a month"),
    ],
)
def test_malformed_periods_say_what_is_wrong(kind, text: str, message: str) -> None:
    with pytest.raises(InvalidPeriod) as raised:
        parse_period(kind, text)

    assert message in str(raised.value)
