"""Inventory rules: a product's stock, reservations per order, and the low-stock threshold."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from uuid import UUID

__all__ = ["Shortage", "Stock", "reserve_all"]


@dataclass(frozen=True, slots=True)
class Stock:
    """The stock of one product: units on hand, of which some are reserved per order."""

    product_id: UUID
    artisan_id: UUID
    on_hand: int
    threshold: int
    reservations: dict[UUID, int] = field(default_factory=dict)

    @property
    def reserved(self) -> int:
        """Units held for open reservations."""
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.on_hand - self.reserved

    def reserve(self, order_id: UUID, quantity: int) -> Stock:
        """Hold `quantity` units for an order (the caller checked availability)."""
        return replace(self, reservations={**self.reservations, order_id: quantity})

    def release(self, order_id: UUID) -> Stock:
        """Give an order's units back."""
        return replace(
            self, reservations={k: v for k, v in self.reservations.items() if k != order_id}
        )

    def commit(self, order_id: UUID) -> Stock:
        """Turn an order's reservation into a sale: the units leave the shelf."""
        quantity = self.reservations.get(order_id, 0)
        return replace(self.release(order_id), on_hand=self.on_hand - quantity)

    def crossed_threshold(self, before: Stock) -> bool:
        """True when this change took availability from at/above the threshold to below it."""
        return before.available >= self.threshold > self.available


@dataclass(frozen=True, slots=True)
class Shortage:
    """A line that cannot be reserved."""

    product_id: UUID
    requested: int
    available: int


def reserve_all(
    stocks: dict[UUID, Stock | None], order_id: UUID, lines: list[tuple[UUID, int]]
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
        changed[product_id] = stock.reserve(order_id, quantity)
    return changed, []
