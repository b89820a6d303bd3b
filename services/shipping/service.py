"""The shipping service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.shipping.api import build_router
from generated.shipping.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.shipping.api import ShippingApi
from services.shipping.handlers import ShipmentHandlers
from services.shipping.shipments import ShipmentTables

__all__ = ["NAME", "definition"]

NAME = "shipping"


def definition() -> ServiceDefinition:
    """Shipping: shipments opened from OrderConfirmed, tracked and moved over REST."""
    tables = ShipmentTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(ShippingApi(ctx, tables))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: ShipmentHandlers(ctx, tables),
        routers=routers,
        migrate=tables.migrate,
    )
