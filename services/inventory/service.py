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
    handlers: dict[str, InventoryHandlers] = {}

    def make_handlers(ctx: ServiceContext) -> InventoryHandlers:
        return handlers.setdefault("h", InventoryHandlers(ctx, tables))

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(InventoryApi(ctx, tables))]

    def jobs(ctx: ServiceContext) -> Sequence[Job]:
        sweeper = make_handlers(ctx)
        return [Job("inventory reservation expiry", expiry_interval, sweeper.expire_reservations)]

    return ServiceDefinition(
        name="inventory",
        subscriptions=SUBSCRIPTIONS,
        handlers=make_handlers,
        routers=routers,
        migrate=tables.migrate,
        jobs=jobs,
    )
