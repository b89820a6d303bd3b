"""Inventory rules: a product's stock, reservations per order, and the low-stock threshold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

__all__ = ["Shortage", "Stock", "reserve_all"]


@dataclass(frozen=True, slots=True)
class Stock:
    """The stock of one product: units on hand, of which some are held for orders."""

    product_id: UUID
    artisan_id: UUID
    on_hand: int
    threshold: int
    reserved: int = 0

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.on_hand - self.reserved

    def reserve(self, quantity: int) -> Stock:
        """Hold `quantity` more units (the caller checked availability)."""
        return replace(self, reserved=self.reserved + quantity)

    def release(self, quantity: int) -> Stock:
        """Give held units back."""
        return replace(self, reserved=self.reserved - quantity)

    def commit(self, quantity: int) -> Stock:
        """Turn held units into a sale: they leave the shelf."""
        return replace(self, on_hand=self.on_hand - quantity, reserved=self.reserved - quantity)

    def crossed_threshold(self, before: Stock) -> bool:
        """True when this change took availability from above the threshold to at or below it
        (the contract's "fell to or below")."""
        return before.available > self.threshold >= self.available


@dataclass(frozen=True, slots=True)
class Shortage:
    """A line that cannot be reserved."""

    product_id: UUID
    requested: int
    available: int


def reserve_all(
    stocks: dict[UUID, Stock | None], lines: list[tuple[UUID, int]]
) -> tuple[dict[UUID, Stock], list[Shortage]]:
    """Reserve every line or none: the new stocks, or the shortages that prevent it."""
    wanted: dict[UUID, int] = {}
    for product_id, quantity in lines:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    shortages = []
    for product_id, quantity in wanted.items():
        stock = stocks.get(product_id)
        available = stock.available if stock else 0
        if stock is None or available < quantity:
            shortages.append(Shortage(product_id, quantity, available))
    if shortages:
        return {}, shortages
    changed = {}
    for product_id, quantity in wanted.items():
        stock = stocks[product_id]
        assert stock is not None
        changed[product_id] = stock.reserve(quantity)
    return changed, []
