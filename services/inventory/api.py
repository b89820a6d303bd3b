"""Inventory's REST API: availability (the < 100 ms query) and setting stock levels."""

from __future__ import annotations

from uuid import UUID

from generated.inventory.models import Availability, SetStockRequest, StockItem
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.inventory.domain import Stock
from services.inventory.stock import StockTables

__all__ = ["InventoryApi"]


class InventoryApi:
    """Implements `generated.inventory.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: StockTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def get_availability(self, product_id: UUID) -> Availability:
        """Available and reserved units, from the stock read model."""
        async with self._ctx.transaction() as tx:
            row = await self._tables.row(tx, product_id)
        if row is None:
            raise ProblemError(404, "Not Found", f"No stock for product {product_id}.")
        return Availability(
            product_id=product_id,
            available=row["on_hand"] - row["reserved"],
            reserved=row["reserved"],
            threshold=row["threshold"],
        )

    async def set_stock(
        self, principal: Principal, product_id: UUID, body: SetStockRequest
    ) -> StockItem:
        """Count the units on hand; never fewer than those held for orders."""
        async with self._ctx.transaction() as tx:
            locked = await self._tables.lock(tx, [product_id])
            if product_id not in locked:
                raise ProblemError(404, "Not Found", f"No stock for product {product_id}.")
            before, version = locked[product_id]
            principal.require_owner(before.artisan_id, "this product's stock")
            if body.on_hand < before.reserved:
                raise ProblemError(
                    409,
                    "Conflict",
                    f"{before.reserved} units are reserved; on_hand cannot be {body.on_hand}.",
                )
            after = Stock(
                product_id, before.artisan_id, body.on_hand, body.threshold, before.reserved
            )
            now = self._ctx.clock()
            await self._tables.save(tx, before, after, version, now=now, cause=None)
        return StockItem(
            product_id=product_id,
            artisan_id=after.artisan_id,
            on_hand=after.on_hand,
            available=after.available,
            reserved=after.reserved,
            threshold=after.threshold,
            updated_at=now,
        )
