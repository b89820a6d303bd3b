"""The calendar's rules, free of I/O.

- An event ends after it starts, and is published before it ends.
- A booking needs the event not to be over and enough seats left; seats never go below
  zero (the database enforces that too, under concurrency).
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["BookingRefusedError", "CalendarRuleError", "check_booking", "check_schedule"]


class CalendarRuleError(ValueError):
    """A request that breaks a calendar rule (answered 422)."""


class BookingRefusedError(CalendarRuleError):
    """Not enough seats are left (answered 409)."""


def check_schedule(starts_at: datetime, ends_at: datetime, *, now: datetime) -> None:
    """Raise `CalendarRuleError` unless the event ends after it starts, in the future."""
    if ends_at <= starts_at:
        raise CalendarRuleError("ends_at: must be after starts_at.")
    if ends_at <= now:
        raise CalendarRuleError("ends_at: the event is already over.")


def check_booking(*, seats: int, seats_left: int, ends_at: datetime, now: datetime) -> None:
    """Raise unless `seats` can be booked now: the event not over, enough seats left."""
    if ends_at <= now:
        raise CalendarRuleError("The event is over; it can no longer be booked.")
    if seats > seats_left:
        raise BookingRefusedError(
            f"{seats} seat{'s' if seats > 1 else ''} asked, {seats_left} left."
        )
