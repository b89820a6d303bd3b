"""The shipping service's message handlers: each one idempotent, in one transaction."""

from __future__ import annotations

import uuid

from generated.shipping.models import (
    ArtisanVerified,
    OrderConfirmed,
    Shipment,
    ShipmentCreated,
)
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.shipping.domain import tracking_code
from services.shipping.shipments import ShipmentTables

__all__ = ["ShipmentHandlers", "shipment_id_of"]

_NAMESPACE = uuid.UUID("1f0d5c1e-8a1b-4c7e-9d3f-5b6a7c8d9e0f")


def shipment_id_of(order_id: uuid.UUID) -> uuid.UUID:
    """The shipment of an order: one per order, the same id on every redelivery."""
    return uuid.uuid5(_NAMESPACE, str(order_id))


class ShipmentHandlers:
    """Implements `generated.shipping.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: ShipmentTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def on_order_confirmed(self, message: OrderConfirmed, context: MessageContext) -> None:
        """Open the order's shipment with a tracking code, and announce it."""
        async with self._ctx.handling(context, "on_order_confirmed") as tx:
            if tx is None:
                return
            sequence = await self._tables.next_sequence(tx, message.order_id)
            if sequence is None:  # the order has its shipment
                return
            delivery = message.delivery
            province = delivery.address.province if delivery.address else None
            code = tracking_code(delivery.method, province, sequence)
            shipment = Shipment(
                shipment_id=shipment_id_of(message.order_id),
                order_id=message.order_id,
                customer_id=message.customer_id,
                status="created",
                tracking_code=code,
                delivery=delivery.model_dump(),
                created_at=self._ctx.clock(),
            )
            publisher, sink = self._tables.publisher(tx, shipment.shipment_id, 0)
            await publisher.shipment_created(
                ShipmentCreated(
                    shipment_id=shipment.shipment_id,
                    order_id=shipment.order_id,
                    customer_id=shipment.customer_id,
                    tracking_code=code,
                    delivery=delivery.model_dump(),
                    created_at=shipment.created_at,
                ),
                aggregate_id=str(shipment.shipment_id),
                cause=context,
            )
            artisans = sorted({item.artisan_id for item in message.items})
            await self._tables.insert(tx, shipment, artisans, sink.version)

    async def on_artisan_verified(self, message: ArtisanVerified, context: MessageContext) -> None:
        """Remember which user account the artisan is."""
        async with self._ctx.handling(context, "on_artisan_verified") as tx:
            if tx is not None:
                await self._tables.remember_artisan(tx, message.artisan_id, message.user_id)
