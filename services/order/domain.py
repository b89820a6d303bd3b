"""Order rules: pricing from the local catalogue, delivery fees, and the saga's steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

__all__ = [
    "DELIVERY_FEE_MINOR",
    "CatalogueEntry",
    "PricedLine",
    "PricingError",
    "SagaStep",
    "Status",
    "price",
]

Status = Literal[
    "pending",
    "stock_reserved",
    "payment_pending",
    "confirmed",
    "shipped",
    "delivered",
    "cancelled",
    "rejected",
]
SagaStep = Literal["reserving_stock", "processing_payment", "releasing_stock", "done"]
"""Where the order-creation saga waits: for inventory, for payment, for a compensation."""

DELIVERY_FEE_MINOR = {"standard": 499, "pickup": 0}
"""Standard delivery costs 4.99 EUR; pickup in Jaén is free."""


class PricingError(ValueError):
    """An order line names a product the catalogue does not know."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """What the order service knows of a product: who sells it and for how much."""

    product_id: UUID
    artisan_id: UUID
    price_minor: int


@dataclass(frozen=True, slots=True)
class PricedLine:
    """An order line with its seller and unit price."""

    product_id: UUID
    artisan_id: UUID
    quantity: int
    unit_price_minor: int

    @property
    def amount_minor(self) -> int:
        """Quantity times unit price."""
        return self.quantity * self.unit_price_minor


def price(
    lines: list[tuple[UUID, int]], catalogue: dict[UUID, CatalogueEntry], delivery: str
) -> tuple[list[PricedLine], int, int]:
    """Price the lines: (priced lines, subtotal, delivery fee), all in minor units."""
    unknown = [str(p) for p, _ in lines if p not in catalogue]
    if unknown:
        raise PricingError(f"unknown product(s): {', '.join(unknown)}")
    priced = [PricedLine(p, catalogue[p].artisan_id, q, catalogue[p].price_minor) for p, q in lines]
    return priced, sum(line.amount_minor for line in priced), DELIVERY_FEE_MINOR[delivery]


def per_artisan(lines: list[PricedLine]) -> dict[UUID, int]:
    """Gross amount per artisan, for the payment split (delivery stays with the platform)."""
    out: dict[UUID, int] = {}
    for line in lines:
        out[line.artisan_id] = out.get(line.artisan_id, 0) + line.amount_minor
    return out
