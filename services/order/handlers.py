"""The order service's message handlers: each one idempotent, in one transaction."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from generated.order.models import (
    NewProductListed,
    OrderDelivered,
    OrderStateChanged,
    PaymentFailed,
    PaymentSucceeded,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.saga import SagaState
from runtime.service import ServiceContext
from services.order.domain import CatalogueEntry
from services.order.saga import OrderSaga, Step

__all__ = ["OrderHandlers"]


class OrderHandlers:
    """Implements `generated.order.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, saga: OrderSaga) -> None:
        self._ctx = ctx
        self._saga = saga

    async def _state(self, tx: Transaction, order_id: UUID) -> SagaState | None:
        return await self._saga.sagas.get(tx, str(order_id))

    async def on_stock_reserved(self, message: StockReserved, context: MessageContext) -> None:
        """Move the saga on to payment."""
        async with self._ctx.handling(context, "on_stock_reserved") as tx:
            if tx and (state := await self._state(tx, message.order_id)):
                await self._saga.stock_reserved(
                    tx, state, message.reservation_id, now=self._ctx.clock(), cause=context
                )

    async def on_stock_reservation_failed(
        self, message: StockReservationFailed, context: MessageContext
    ) -> None:
        """Reject the order."""
        async with self._ctx.handling(context, "on_stock_reservation_failed") as tx:
            if tx and (state := await self._state(tx, message.order_id)):
                detail = ", ".join(
                    f"{u.product_id}: {u.available} of {u.requested}" for u in message.unavailable
                )
                await self._saga.rejected(
                    tx,
                    state,
                    "out_of_stock",
                    f"Not enough stock ({detail}).",
                    now=self._ctx.clock(),
                    cause=context,
                )

    async def on_stock_released(self, message: StockReleased, context: MessageContext) -> None:
        """Finish a compensation by cancelling the order."""
        async with self._ctx.handling(context, "on_stock_released") as tx:
            if tx and (state := await self._state(tx, message.order_id)):
                await self._saga.stock_released(tx, state, now=self._ctx.clock(), cause=context)

    async def on_payment_succeeded(
        self, message: PaymentSucceeded, context: MessageContext
    ) -> None:
        """Confirm the order and commit its stock."""
        async with self._ctx.handling(context, "on_payment_succeeded") as tx:
            if tx and (state := await self._state(tx, message.order_id)):
                await self._saga.paid(
                    tx, state, message.payment_id, now=self._ctx.clock(), cause=context
                )

    async def on_payment_failed(self, message: PaymentFailed, context: MessageContext) -> None:
        """Compensate by releasing the stock."""
        async with self._ctx.handling(context, "on_payment_failed") as tx:
            state = await self._state(tx, message.order_id) if tx else None
            if tx and state and state.step == Step.PAYING:
                await self._saga.compensate(
                    tx, state, "payment_failed", now=self._ctx.clock(), cause=context
                )

    async def on_shipment_dispatched(
        self, message: ShipmentDispatched, context: MessageContext
    ) -> None:
        """Mark a confirmed order shipped (a late notice after delivery changes nothing)."""
        async with self._ctx.handling(context, "on_shipment_dispatched") as tx:
            state = await self._state(tx, message.order_id) if tx else None
            if not (tx and state and state.data.get("outcome") == "confirmed"):
                return
            if state.data.get("status") != "confirmed":
                return
            publisher, sink = self._saga.publisher(tx, message.order_id, state.stream_version)
            shipped = await self._saga.change(
                publisher,
                state,
                "shipped",
                f"Dispatched with tracking code {message.tracking_code}.",
                now=message.dispatched_at,
                cause=context,
            )
            await self._saga.record(tx, shipped, sink)

    async def on_shipment_delivered(
        self, message: ShipmentDelivered, context: MessageContext
    ) -> None:
        """Mark the order delivered."""
        async with self._ctx.handling(context, "on_shipment_delivered") as tx:
            state = await self._state(tx, message.order_id) if tx else None
            if not (tx and state and state.data.get("outcome") == "confirmed"):
                return
            if state.data.get("status") == "delivered":
                return
            publisher, sink = self._saga.publisher(tx, message.order_id, state.stream_version)
            await publisher.order_state_changed(
                OrderStateChanged.model_validate(
                    {
                        "order_id": message.order_id,
                        "customer_id": message.customer_id,
                        "from_status": state.data["status"],
                        "to_status": "delivered",
                        "reason": "Delivered.",
                        "changed_at": message.delivered_at,
                    }
                ),
                aggregate_id=str(message.order_id),
                cause=context,
            )
            await publisher.order_delivered(
                OrderDelivered.model_validate(
                    {
                        "order_id": message.order_id,
                        "customer_id": message.customer_id,
                        "items": state.data["items"],
                        "total": {"amount_minor": state.data["total_minor"], "currency": "EUR"},
                        "delivered_at": message.delivered_at,
                    }
                ),
                aggregate_id=str(message.order_id),
                cause=context,
            )
            await self._saga.record(
                tx, replace(state, data={**state.data, "status": "delivered"}, deadline=None), sink
            )

    async def on_new_product_listed(
        self, message: NewProductListed, context: MessageContext
    ) -> None:
        """Keep the order service's own copy of prices and sellers."""
        async with self._ctx.handling(context, "on_new_product_listed") as tx:
            if tx:
                await self._saga.views.remember_product(
                    tx,
                    CatalogueEntry(
                        message.product_id, message.artisan_id, message.price.amount_minor
                    ),
                )
