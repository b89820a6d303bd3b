"""The calendar's rules: events end after they start, bookings fit the seats left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.calendar.domain import (
    BookingRefusedError,
    CalendarRuleError,
    check_booking,
    check_schedule,
)

NOW = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=14)


def test_an_event_must_end_after_it_starts() -> None:
    with pytest.raises(CalendarRuleError, match="after starts_at"):
        check_schedule(LATER, LATER, now=NOW)


def test_an_event_already_over_cannot_be_published() -> None:
    with pytest.raises(CalendarRuleError, match="already over"):
        check_schedule(NOW - timedelta(hours=3), NOW - timedelta(hours=1), now=NOW)


def test_a_future_event_can_be_published() -> None:
    check_schedule(LATER, LATER + timedelta(hours=2), now=NOW)


def test_a_booking_may_take_the_last_seats() -> None:
    check_booking(seats=3, seats_left=3, ends_at=LATER, now=NOW)


def test_a_booking_of_more_seats_than_left_is_refused() -> None:
    with pytest.raises(BookingRefusedError, match="3 seats asked, 2 left"):
        check_booking(seats=3, seats_left=2, ends_at=LATER, now=NOW)


def test_an_event_that_is_over_cannot_be_booked_even_with_seats_left() -> None:
    with pytest.raises(CalendarRuleError, match="over") as raised:
        check_booking(seats=1, seats_left=30, ends_at=NOW, now=NOW)
    assert not isinstance(raised.value, BookingRefusedError)
