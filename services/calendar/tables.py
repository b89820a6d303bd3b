"""The calendar service's own tables: local events with their free seats, and bookings.

A booking locks its event's row (`SELECT ... FOR UPDATE`) before it checks and takes the
seats: concurrent bookings queue on the lock and each sees the seats its predecessor left,
so the seats booked never exceed the capacity (a CHECK constraint says so as well).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from generated.calendar.models import Booking, LocalEvent
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of

__all__ = ["CalendarTables"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".local_events (
    event_id uuid PRIMARY KEY, title text NOT NULL, kind text NOT NULL, province text NOT NULL,
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, capacity integer NOT NULL,
    seats_left integer NOT NULL CHECK (seats_left >= 0 AND seats_left <= capacity),
    published_by uuid NOT NULL, published_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS local_events_starts ON "{s}".local_events (starts_at, event_id);
CREATE TABLE IF NOT EXISTS "{s}".bookings (
    booking_id uuid PRIMARY KEY, event_id uuid NOT NULL REFERENCES "{s}".local_events,
    user_id uuid NOT NULL, seats integer NOT NULL, confirmed_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS bookings_event ON "{s}".bookings (event_id);
"""

_EVENT_COLUMNS = (
    "event_id, title, kind, province, starts_at, ends_at, capacity, seats_left, published_at"
)


class CalendarTables:
    """SQL of the calendar service's tables in its own schema."""

    def __init__(self, schema: str = "calendar") -> None:
        self._schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self._schema))

    async def add_event(self, tx: Transaction, event: LocalEvent, published_by: UUID) -> None:
        """Record a newly published event, all its seats free."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.local_events ({_EVENT_COLUMNS}, published_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            event.event_id,
            event.title,
            event.kind,
            event.province,
            event.starts_at,
            event.ends_at,
            event.capacity,
            event.seats_left,
            event.published_at,
            published_by,
        )

    async def event(self, tx: Transaction, event_id: UUID) -> LocalEvent | None:
        """One event and its free seats."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_EVENT_COLUMNS} FROM {self._s}.local_events WHERE event_id = $1", event_id
        )
        return LocalEvent.model_validate(dict(row)) if row else None

    async def events(
        self,
        tx: Transaction,
        *,
        province: str | None,
        from_: datetime,
        to: datetime | None,
        limit: int,
    ) -> list[LocalEvent]:
        """Events that end at or after `from_` and start before `to`, soonest first."""
        rows = await connection_of(tx).fetch(
            f"SELECT {_EVENT_COLUMNS} FROM {self._s}.local_events"
            " WHERE ends_at >= $1 AND ($2::timestamptz IS NULL OR starts_at < $2)"
            " AND ($3::text IS NULL OR province = $3)"
            " ORDER BY starts_at, event_id LIMIT $4",
            from_,
            to,
            province,
            limit,
        )
        return [LocalEvent.model_validate(dict(r)) for r in rows]

    async def lock_event(self, tx: Transaction, event_id: UUID) -> LocalEvent | None:
        """One event, its row locked until the transaction ends: bookings of it queue here."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_EVENT_COLUMNS} FROM {self._s}.local_events WHERE event_id = $1 FOR UPDATE",
            event_id,
        )
        return LocalEvent.model_validate(dict(row)) if row else None

    async def take_seats(self, tx: Transaction, event_id: UUID, seats: int) -> int:
        """Take `seats` of a (locked) event; return the seats left (the CHECK refuses < 0)."""
        left = await connection_of(tx).fetchval(
            f"UPDATE {self._s}.local_events SET seats_left = seats_left - $2"
            " WHERE event_id = $1 RETURNING seats_left",
            event_id,
            seats,
        )
        return int(left)

    async def add_booking(self, tx: Transaction, booking: Booking) -> None:
        """Record a confirmed booking."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.bookings VALUES ($1, $2, $3, $4, $5)",
            booking.booking_id,
            booking.event_id,
            booking.user_id,
            booking.seats,
            booking.confirmed_at,
        )

    async def booking(self, tx: Transaction, booking_id: UUID) -> Booking | None:
        """One booking."""
        row = await connection_of(tx).fetchrow(
            "SELECT booking_id, event_id, user_id, seats, confirmed_at"
            f" FROM {self._s}.bookings WHERE booking_id = $1",
            booking_id,
        )
        return Booking.model_validate(dict(row)) if row else None

    async def seats_booked(self, tx: Transaction, event_id: UUID) -> int:
        """Seats booked at an event, summed over its bookings."""
        total = await connection_of(tx).fetchval(
            f"SELECT coalesce(sum(seats), 0) FROM {self._s}.bookings WHERE event_id = $1",
            event_id,
        )
        return int(total)
