"""The analytics service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.analytics.api import build_router
from generated.analytics.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.analytics.api import AnalyticsApi
from services.analytics.handlers import AnalyticsHandlers
from services.analytics.kpis import Kpis
from services.analytics.tables import AnalyticsTables

__all__ = ["NAME", "definition"]

NAME = "analytics"


def definition() -> ServiceDefinition:
    """The analytics service: its projections of most events and the admin KPI API."""
    tables = AnalyticsTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(AnalyticsApi(ctx, Kpis(NAME)))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: AnalyticsHandlers(ctx, tables),
        routers=routers,
        migrate=tables.migrate,
    )
