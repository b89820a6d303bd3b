"""The inventory service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.inventory.api import build_router
from generated.inventory.events import SUBSCRIPTIONS
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.inventory.api import InventoryApi
from services.inventory.handlers import InventoryHandlers
from services.inventory.stock import StockTables

__all__ = ["definition"]


def definition(*, expiry_interval: float = 5.0) -> ServiceDefinition:
    """Inventory: reservations for orders, stock levels, and the expiry sweep."""
    tables = StockTables()

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(InventoryApi(ctx, tables))]

    def jobs(ctx: ServiceContext, handlers: InventoryHandlers) -> Sequence[Job]:
        return [Job("inventory reservation expiry", expiry_interval, handlers.expire_reservations)]

    return ServiceDefinition(
        name="inventory",
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: InventoryHandlers(ctx, tables),
        routers=routers,
        migrate=tables.migrate,
        jobs=jobs,
    )
