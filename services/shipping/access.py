"""Who may see or act on a shipment.

Customers track their own shipments; admins see and act on every one. An artisan acts on
(and sees) a shipment when the order holds one of their items: the shipment keeps the
order's artisan ids, and ArtisanVerified tells which user account each artisan is (a token
whose subject is the artisan id itself is accepted too). A customer never dispatches or
delivers: the contract's `x-roles` already answer 403 to anyone but artisans and admins.
"""

from __future__ import annotations

from uuid import UUID

from runtime.eventstore.base import Transaction
from runtime.http import ProblemError
from runtime.http.auth import Principal
from services.shipping.shipments import LockedShipment, ShipmentTables

__all__ = ["may_act", "may_see", "require_actor", "require_viewer"]


def may_act(principal: Principal, shipment: LockedShipment, artisans: set[UUID]) -> bool:
    """Admins, and artisans (of `artisans`, the caller's artisan ids) selling in the order."""
    if principal.is_admin:
        return True
    mine = artisans | {principal.subject}
    return "artisan" in principal.roles and not mine.isdisjoint(shipment.artisan_ids)


def may_see(principal: Principal, shipment: LockedShipment, artisans: set[UUID]) -> bool:
    """Its customer, and whoever may act on it."""
    return principal.subject == shipment.shipment.customer_id or may_act(
        principal, shipment, artisans
    )


async def require_viewer(
    tables: ShipmentTables, tx: Transaction, principal: Principal, shipment: LockedShipment
) -> None:
    """Raise 403 unless the caller may see the shipment."""
    if not may_see(principal, shipment, await _artisans(tables, tx, principal)):
        raise ProblemError(
            403, "Forbidden", "Only the order's customer, its artisans or an admin see it."
        )


async def require_actor(
    tables: ShipmentTables, tx: Transaction, principal: Principal, shipment: LockedShipment
) -> None:
    """Raise 403 unless the caller may dispatch or deliver the shipment."""
    if not may_act(principal, shipment, await _artisans(tables, tx, principal)):
        raise ProblemError(
            403, "Forbidden", "Only an admin or an artisan of the order's items may do this."
        )


async def _artisans(tables: ShipmentTables, tx: Transaction, principal: Principal) -> set[UUID]:
    if principal.is_admin or "artisan" not in principal.roles:
        return set()
    return await tables.artisans_of_user(tx, principal.subject)
