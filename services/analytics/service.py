"""The analytics service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.analytics.api import build_router
from generated.analytics.events import SUBSCRIPTIONS
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.analytics.api import AnalyticsApi
from services.analytics.handlers import AnalyticsHandlers
from services.analytics.kpis import Kpis
from services.analytics.tables import AnalyticsTables
from services.analytics.watermarks import Watermarks

__all__ = ["NAME", "definition"]

NAME = "analytics"


def definition() -> ServiceDefinition:
    """The analytics service: its projections of most events and the admin KPI API."""
    tables = AnalyticsTables(NAME)

    def handlers(ctx: ServiceContext) -> AnalyticsHandlers:
        watermarks = Watermarks.of(ctx, tables)
        ctx.on_stop(lambda: watermarks.store(ctx))
        return AnalyticsHandlers(ctx, tables)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(AnalyticsApi(ctx, Kpis(NAME), Watermarks.of(ctx, tables)))]

    def jobs(ctx: ServiceContext, _handlers: object) -> Sequence[Job]:
        watermarks = Watermarks.of(ctx, tables)
        return [Job("analytics watermarks", 1.0, lambda: watermarks.store(ctx))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=handlers,
        routers=routers,
        migrate=tables.migrate,
        jobs=jobs,
    )
