"""The shipping service's REST API: track shipments, and the carrier's webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.shipping.models import (
    DeliverShipmentRequest,
    DispatchShipmentRequest,
    Shipment,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentList,
)
from runtime.eventstore.base import Transaction
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.shipping.access import require_actor, require_viewer
from services.shipping.domain import (
    Method,
    Move,
    ShipmentStatus,
    TransitionError,
    deliver,
    dispatch,
)
from services.shipping.shipments import LockedShipment, ShipmentTables

__all__ = ["ShippingApi"]


class ShippingApi:
    """Implements `generated.shipping.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: ShipmentTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def list_shipments(self, principal: Principal, *, order_id: UUID) -> ShipmentList:
        """The order's shipment, to its customer, its artisans and admins."""
        async with self._ctx.transaction() as tx:
            found = await self._tables.of_order(tx, order_id)
            for locked in found:
                await require_viewer(self._tables, tx, principal, locked)
        return ShipmentList(items=[locked.shipment for locked in found])

    async def get_shipment(self, principal: Principal, shipment_id: UUID) -> Shipment:
        """One shipment, to its customer, its artisans and admins."""
        async with self._ctx.transaction() as tx:
            locked = await self._tables.get(tx, shipment_id)
            if locked is None:
                raise _not_found(shipment_id)
            await require_viewer(self._tables, tx, principal, locked)
        return locked.shipment

    async def dispatch_shipment(
        self, principal: Principal, shipment_id: UUID, body: DispatchShipmentRequest
    ) -> Shipment:
        """Mark a standard shipment dispatched and announce it (once)."""
        async with self._ctx.transaction() as tx:
            locked = await self._acting(tx, principal, shipment_id)
            current = locked.shipment
            if _move(dispatch, current) is Move.UNCHANGED:
                return current
            after = current.model_copy(
                update={
                    "status": "dispatched",
                    "carrier": body.carrier,
                    "dispatched_at": body.dispatched_at,
                }
            )
            publisher, sink = self._tables.publisher(tx, shipment_id, locked.version)
            await publisher.shipment_dispatched(
                ShipmentDispatched(**_facts(after), dispatched_at=body.dispatched_at),
                aggregate_id=str(shipment_id),
            )
            await self._tables.update(tx, after, sink.version)
        return after

    async def deliver_shipment(
        self, principal: Principal, shipment_id: UUID, body: DeliverShipmentRequest
    ) -> Shipment:
        """Mark a shipment delivered and announce it (once); order then marks the order."""
        async with self._ctx.transaction() as tx:
            locked = await self._acting(tx, principal, shipment_id)
            current = locked.shipment
            if _move(deliver, current) is Move.UNCHANGED:
                return current
            if current.dispatched_at is not None:
                _not_before(body.delivered_at, current.dispatched_at)
            after = current.model_copy(
                update={"status": "delivered", "delivered_at": body.delivered_at}
            )
            publisher, sink = self._tables.publisher(tx, shipment_id, locked.version)
            await publisher.shipment_delivered(
                ShipmentDelivered(**_facts(after), delivered_at=body.delivered_at),
                aggregate_id=str(shipment_id),
            )
            await self._tables.update(tx, after, sink.version)
        return after

    async def _acting(
        self, tx: Transaction, principal: Principal, shipment_id: UUID
    ) -> LockedShipment:
        """The shipment, locked, once the caller is known to be allowed to act on it."""
        locked = await self._tables.lock(tx, shipment_id)
        if locked is None:
            raise _not_found(shipment_id)
        await require_actor(self._tables, tx, principal, locked)
        return locked


def _move(rule: Callable[[ShipmentStatus, Method], Move], shipment: Shipment) -> Move:
    try:
        move = rule(shipment.status, shipment.delivery.method)
    except TransitionError as exc:
        raise ProblemError(409, "Conflict", str(exc)) from exc
    return move


def _not_before(when: datetime, earlier: datetime) -> None:
    if when < earlier:
        raise ProblemError(
            422,
            "Unprocessable Content",
            f"delivered_at: {when.isoformat()} is before dispatched_at {earlier.isoformat()}.",
        )


def _facts(shipment: Shipment) -> dict[str, Any]:
    return {
        "shipment_id": shipment.shipment_id,
        "order_id": shipment.order_id,
        "customer_id": shipment.customer_id,
        "tracking_code": shipment.tracking_code,
    }


def _not_found(shipment_id: UUID) -> ProblemError:
    return ProblemError(404, "Not Found", f"No shipment {shipment_id}.")
