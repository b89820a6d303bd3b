"""The calendar service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.calendar.api import build_router
from generated.calendar.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.calendar.api import CalendarApi
from services.calendar.tables import CalendarTables

__all__ = ["NAME", "definition"]

NAME = "calendar"


def definition() -> ServiceDefinition:
    """The calendar service: events, bookings and the REST API; it receives nothing."""
    tables = CalendarTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(CalendarApi(ctx, tables))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda _ctx: object(),
        routers=routers,
        migrate=tables.migrate,
    )
