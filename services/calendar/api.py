"""The calendar service's REST API: local events (public reads) and their bookings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from uuid import UUID

from generated.calendar.events import Publisher
from generated.calendar.models import (
    Booking,
    BookingConfirmed,
    BookLocalEventRequest,
    LocalEvent,
    LocalEventList,
    LocalEventPublished,
    PublishLocalEventRequest,
)
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.calendar.domain import (
    BookingRefusedError,
    CalendarRuleError,
    check_booking,
    check_schedule,
)
from services.calendar.tables import CalendarTables

__all__ = ["CalendarApi"]

Province = Literal["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]


class CalendarApi:
    """Implements `generated.calendar.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: CalendarTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def list_local_events(
        self,
        *,
        province: Province | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 20,
    ) -> LocalEventList:
        """Events overlapping [from_, to), soonest first; from_ defaults to now."""
        start = from_ or self._ctx.clock()
        if to is not None and to <= start:
            raise ProblemError(422, "Unprocessable Content", "to: must be after from.")
        async with self._ctx.transaction() as tx:
            items = await self._tables.events(
                tx, province=province, from_=start, to=to, limit=limit
            )
        return LocalEventList(items=items)

    async def publish_local_event(
        self, principal: Principal, body: PublishLocalEventRequest
    ) -> LocalEvent:
        """Record the event with every seat free and LocalEventPublished with it (outbox)."""
        now = self._ctx.clock()
        try:
            check_schedule(body.starts_at, body.ends_at, now=now)
        except CalendarRuleError as exc:
            raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
        event = LocalEvent(
            event_id=uuid.uuid4(), **body.model_dump(), seats_left=body.capacity, published_at=now
        )
        async with self._ctx.transaction() as tx:
            await self._tables.add_event(tx, event, principal.subject)
            sink = StreamSink(tx, f"local-event-{event.event_id}", 0)
            await Publisher(sink).local_event_published(
                LocalEventPublished(event_id=event.event_id, **body.model_dump()),
                aggregate_id=str(event.event_id),
            )
        return event

    async def get_local_event(self, event_id: UUID) -> LocalEvent:
        """One event and its free seats."""
        async with self._ctx.transaction() as tx:
            event = await self._tables.event(tx, event_id)
        if event is None:
            raise _no_event(event_id)
        return event

    async def book_local_event(
        self, principal: Principal, event_id: UUID, body: BookLocalEventRequest
    ) -> Booking:
        """Take the seats under the event's row lock; record BookingConfirmed (outbox)."""
        principal.require_owner(body.user_id, "bookings for this user")
        now = self._ctx.clock()
        booking = Booking(
            booking_id=uuid.uuid4(),
            event_id=event_id,
            user_id=body.user_id,
            seats=body.seats,
            confirmed_at=now,
        )
        async with self._ctx.transaction() as tx:
            event = await self._tables.lock_event(tx, event_id)
            if event is None:
                raise _no_event(event_id)
            try:
                check_booking(
                    seats=body.seats, seats_left=event.seats_left, ends_at=event.ends_at, now=now
                )
            except BookingRefusedError as exc:
                raise ProblemError(409, "Conflict", str(exc)) from exc
            except CalendarRuleError as exc:
                raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
            await self._tables.take_seats(tx, event_id, body.seats)
            await self._tables.add_booking(tx, booking)
            sink = StreamSink(tx, f"booking-{booking.booking_id}", 0)
            await Publisher(sink).booking_confirmed(
                BookingConfirmed.model_validate(booking.model_dump()),
                aggregate_id=str(booking.booking_id),
            )
        return booking

    async def get_booking(self, principal: Principal, booking_id: UUID) -> Booking:
        """One booking: its owner's or, for admins, anyone's."""
        async with self._ctx.transaction() as tx:
            booking = await self._tables.booking(tx, booking_id)
        if booking is None:
            raise ProblemError(404, "Not Found", f"No booking {booking_id}.")
        principal.require_owner(booking.user_id, "this booking")
        return booking


def _no_event(event_id: UUID) -> ProblemError:
    return ProblemError(404, "Not Found", f"No local event {event_id}.")
