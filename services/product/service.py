"""The product service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.product.api import build_router
from generated.product.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.product.api import ProductApi
from services.product.catalogue import Catalogue
from services.product.handlers import ProductHandlers

__all__ = ["NAME", "definition"]

NAME = "product"


def definition() -> ServiceDefinition:
    """The product service: the catalogue projection and its search API (public)."""
    catalogue = Catalogue()

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(ProductApi(ctx, catalogue))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: ProductHandlers(ctx, catalogue),
        routers=routers,
        migrate=catalogue.migrate,
        public=True,
    )
