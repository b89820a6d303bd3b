"""The artisan service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence

from fastapi import APIRouter

from generated.artisan.api import build_router
from generated.artisan.events import SUBSCRIPTIONS
from generated.geo.client import GeoClient
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.artisan.api import ArtisanApi
from services.artisan.artisans import ArtisanTables
from services.artisan.domain import TierRule
from services.artisan.handlers import ArtisanHandlers

__all__ = ["NAME", "definition"]

NAME = "artisan"


def definition(
    *,
    geo_url: str | None = None,
    rule: TierRule | None = None,
    evaluation_interval: float = 3600.0,
) -> ServiceDefinition:
    """Artisan: applications, verification, listings, tiers; geo at `geo_url` or A4CO_GEO_URL."""
    tables, tier_rule = ArtisanTables(), rule or TierRule()

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        url = geo_url or os.environ.get("A4CO_GEO_URL", "")
        return [build_router(ArtisanApi(ctx, tables, GeoClient(url, timeout=0.5, retries=1)))]

    def jobs(ctx: ServiceContext, handlers: ArtisanHandlers) -> Sequence[Job]:
        return [
            Job("artisan tier re-evaluation", evaluation_interval, handlers.reevaluate_promoted)
        ]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: ArtisanHandlers(ctx, tables, tier_rule),
        routers=routers,
        migrate=tables.migrate,
        jobs=jobs,
    )
