"""The admin service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence

from fastapi import APIRouter

from generated.admin.api import build_router
from generated.artisan.client import ArtisanClient
from runtime.service import ServiceContext, ServiceDefinition
from services.admin.api import AdminApi
from services.admin.redrives import RedriveLog

__all__ = ["NAME", "definition"]

NAME = "admin"


def definition(*, artisan_url: str | None = None) -> ServiceDefinition:
    """The admin service: REST only (no AsyncAPI, so no subscriptions), on the artisan
    service's REST API and the DLQ stream."""
    redrives = RedriveLog(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        url = artisan_url or os.environ.get("A4CO_ARTISAN_URL", "")
        artisans = ArtisanClient(url, timeout=1.0)
        return [build_router(AdminApi(ctx, artisans, redrives))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=(),
        handlers=lambda _ctx: object(),
        routers=routers,
        migrate=redrives.migrate,
    )
