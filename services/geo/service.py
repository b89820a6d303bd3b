"""The geo service's composition root: REST only, no tables, no messages, no tokens."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.geo.api import build_router
from runtime.service import ServiceContext, ServiceDefinition
from services.geo.api import GeoApi

__all__ = ["NAME", "definition"]

NAME = "geo"


def definition() -> ServiceDefinition:
    """The geo service: static reference data behind a public REST API."""

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(GeoApi())]

    return ServiceDefinition(
        name=NAME,
        subscriptions=(),
        handlers=lambda ctx: object(),
        routers=routers,
        public=True,
    )
