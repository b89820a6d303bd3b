"""The analytics rules: which day an instant belongs to, the conversion rate, the daily series.

- Days are Europe/Madrid calendar days: an order placed at 23:30 UTC on 31 March counts
  on 1 April.
- An order counts on the day it was placed (OrderCreated); its revenue on the day it was
  confirmed (OrderConfirmed), less what was refunded of it, never below zero.
- The conversion rate is the share of the day's visitors (users who viewed a product or
  added one to their cart) who also placed an order that day, in basis points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "MADRID",
    "MAX_INTERVAL_DAYS",
    "DayFigures",
    "IntervalError",
    "conversion_bp",
    "daily_series",
    "day_of",
    "interval_days",
]

MADRID = ZoneInfo("Europe/Madrid")
MAX_INTERVAL_DAYS = 366


class IntervalError(ValueError):
    """An interval of days the orders-per-day query does not answer."""


@dataclass(frozen=True, slots=True)
class DayFigures:
    """Orders placed and net revenue (minor units) of one day."""

    day: date
    orders: int
    revenue_minor: int


def day_of(instant: datetime) -> date:
    """The Europe/Madrid calendar day of an aware instant."""
    return instant.astimezone(MADRID).date()


def conversion_bp(visitors: int, converted: int) -> int:
    """`converted` of `visitors` in basis points, rounded down; 0 without visitors."""
    if visitors <= 0:
        return 0
    return min(10_000, max(0, converted) * 10_000 // visitors)


def interval_days(first: date, last: date) -> int:
    """How many days `first`..`last` spans (both included); raise if it is not answerable."""
    if last < first:
        raise IntervalError(f"to ({last}) is before from ({first}).")
    days = (last - first).days + 1
    if days > MAX_INTERVAL_DAYS:
        raise IntervalError(f"{days} days asked; at most {MAX_INTERVAL_DAYS}.")
    return days


def daily_series(
    first: date, last: date, orders: Mapping[date, int], revenue: Mapping[date, int]
) -> list[DayFigures]:
    """One entry per day of the interval, oldest first; days without figures are zeros."""
    days = interval_days(first, last)
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        series.append(DayFigures(day, orders.get(day, 0), max(0, revenue.get(day, 0))))
    return series
