"""The analytics rules: Madrid days, the conversion rate and the daily series."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.analytics.domain import (
    MAX_INTERVAL_DAYS,
    DayFigures,
    IntervalError,
    conversion_bp,
    daily_series,
    day_of,
    interval_days,
)


def test_a_late_evening_utc_instant_belongs_to_the_next_madrid_day() -> None:
    assert day_of(datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == date(2026, 4, 1)
    assert day_of(datetime(2026, 3, 31, 21, 30, tzinfo=UTC)) == date(2026, 3, 31)


def test_madrid_day_follows_winter_time() -> None:
    assert day_of(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert day_of(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == date(2027, 1, 1)


def test_conversion_is_the_share_of_visitors_who_ordered_in_basis_points() -> None:
    assert conversion_bp(visitors=3, converted=1) == 3333
    assert conversion_bp(visitors=400, converted=12) == 300
    assert conversion_bp(visitors=2, converted=2) == 10_000


def test_conversion_without_visitors_is_zero() -> None:
    assert conversion_bp(visitors=0, converted=4) == 0


def test_conversion_never_exceeds_ten_thousand_basis_points() -> None:
    assert conversion_bp(visitors=1, converted=3) == 10_000


def test_daily_series_fills_missing_days_with_zeros_oldest_first() -> None:
    first, last = date(2026, 11, 27), date(2026, 11, 29)

    series = daily_series(
        first, last, {date(2026, 11, 29): 2}, {date(2026, 11, 27): 500, date(2026, 11, 29): 900}
    )

    assert series == [
        DayFigures(date(2026, 11, 27), 0, 500),
        DayFigures(date(2026, 11, 28), 0, 0),
        DayFigures(date(2026, 11, 29), 2, 900),
    ]


def test_daily_series_shows_negative_net_revenue_as_zero() -> None:
    day = date(2026, 11, 27)

    assert daily_series(day, day, {}, {day: -100}) == [DayFigures(day, 0, 0)]


def test_interval_counts_both_ends() -> None:
    assert interval_days(date(2026, 1, 1), date(2026, 1, 1)) == 1
    assert interval_days(date(2024, 1, 1), date(2024, 12, 31)) == MAX_INTERVAL_DAYS


def test_interval_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(IntervalError, match="before"):
        interval_days(date(2026, 1, 2), date(2026, 1, 1))


def test_interval_longer_than_366_days_is_refused() -> None:
    with pytest.raises(IntervalError, match="367 days"):
        interval_days(date(2025, 1, 1), date(2026, 1, 2))
