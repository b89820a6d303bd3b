"""The recommendation service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.recommendation.api import build_router
from generated.recommendation.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.recommendation.api import RecommendationApi
from services.recommendation.handlers import RecommendationHandlers
from services.recommendation.tables import RecommendationTables

__all__ = ["NAME", "definition"]

NAME = "recommendation"


def definition() -> ServiceDefinition:
    """The recommendation service: its user and catalogue projections and the REST API."""
    tables = RecommendationTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(RecommendationApi(ctx, tables))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: RecommendationHandlers(ctx, tables),
        routers=routers,
        migrate=tables.migrate,
    )
