"""The order-creation saga: each step's messages, state and deadline in one transaction.

reserving_stock --StockReserved--> processing_payment --PaymentSucceeded--> done (confirmed)
      |                                   |  PaymentFailed / deadline / customer cancel
      | StockReservationFailed            v
      v                            releasing_stock --StockReleased--> done (cancelled)
   done (rejected)
A reservation or payment that arrives after the saga gave up is compensated on arrival.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from generated.order.events import Publisher
from generated.order.models import (
    CommitStock,
    OrderCancelled,
    OrderConfirmed,
    OrderStateChanged,
    PaymentLine,
    ProcessPayment,
    RefundPayment,
    ReleaseStock,
)
from runtime.bus.base import MessageContext
from runtime.bus.envelope import request_context
from runtime.eventstore.base import Transaction
from runtime.outbox.sink import StreamSink
from runtime.saga import SagaState
from runtime.saga.postgres import PostgresSagaStore
from services.order.views import OrderViews, Versioned

__all__ = ["OrderSaga", "Step", "Timeouts"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long each step may wait for its answer."""

    stock: timedelta = timedelta(seconds=30)
    payment: timedelta = timedelta(seconds=30)
    release: timedelta = timedelta(seconds=60)


class Step:
    """The saga's steps (its state names)."""

    RESERVING = "reserving_stock"
    PAYING = "processing_payment"
    RELEASING = "releasing_stock"
    DONE = "done"


class OrderSaga:
    """Moves orders through the saga; every method runs inside the caller's transaction."""

    def __init__(self, views: OrderViews, sagas: PostgresSagaStore, timeouts: Timeouts) -> None:
        self.views = views
        self.sagas = sagas
        self.timeouts = timeouts

    @staticmethod
    def cause_of(state: SagaState) -> MessageContext:
        """The cause of messages sent on the saga's own initiative (a timer, a request)."""
        return request_context(state.data["correlation_id"], source="/services/order")

    @staticmethod
    def publisher(
        tx: Transaction, order_id: UUID | str, version: int | None
    ) -> tuple[Publisher, StreamSink]:
        """A publisher appending to the order's stream after `version` (the saga's
        `stream_version`; 0 for a new order), or at its end when that is unknown."""
        sink = StreamSink(tx, f"order-{order_id}", version)
        return Publisher(sink), sink

    async def record(self, tx: Transaction, state: SagaState, sink: StreamSink) -> None:
        """End a step: append its messages and write the saga's state and the order's
        read-model row, in one statement (two when the stream's version is unknown)."""
        await self.sagas.put(tx, state, along=self.views.statements(await _appending(sink)))

    async def change(
        self,
        publisher: Publisher,
        state: SagaState,
        to_status: str,
        reason: str,
        *,
        now: datetime,
        cause: MessageContext | None,
    ) -> SagaState:
        """Announce a status transition (OrderStateChanged) and remember the status."""
        order_id = state.saga_id
        await publisher.order_state_changed(
            OrderStateChanged.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": state.data["customer_id"],
                    "from_status": state.data["status"],
                    "to_status": to_status,
                    "reason": reason,
                    "changed_at": now,
                }
            ),
            aggregate_id=order_id,
            cause=cause,
        )
        return rest_in(state, to_status)

    async def stock_reserved(
        self,
        tx: Transaction,
        state: SagaState,
        reservation_id: UUID,
        *,
        now: datetime,
        cause: MessageContext,
    ) -> None:
        """Stock is held: ask for payment."""
        order_id = UUID(state.saga_id)
        publisher, sink = self.publisher(tx, order_id, state.stream_version)
        if state.step != Step.RESERVING:
            if state.data.get("outcome") != "confirmed":  # gave up meanwhile: give it back
                await publisher.release_stock(
                    ReleaseStock(
                        order_id=order_id, reason=state.data.get("cancel_reason", "stock_timeout")
                    ),
                    aggregate_id=str(order_id),
                    cause=cause,
                )
            await self.views.project(tx, await _appending(sink))
            return
        await publisher.process_payment(
            ProcessPayment.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": state.data["customer_id"],
                    "amount": {"amount_minor": state.data["total_minor"], "currency": "EUR"},
                    "card_token": state.data["card_token"],
                    "lines": [
                        PaymentLine.model_validate(
                            {"artisan_id": a, "amount": {"amount_minor": m, "currency": "EUR"}}
                        )
                        for a, m in state.data["per_artisan"]
                    ],
                }
            ),
            aggregate_id=str(order_id),
            cause=cause,
        )
        # One announcement: the order never rests as stock_reserved (the payment is asked for
        # in the same transaction), so its customer and consumers see the status it rests in.
        state = await self.change(
            publisher,
            state,
            "payment_pending",
            "Stock reserved; payment requested.",
            now=now,
            cause=cause,
        )
        await self.record(
            tx,
            state.move(
                Step.PAYING,
                now=now,
                timeout=self.timeouts.payment,
                reservation_id=str(reservation_id),
            ),
            sink,
        )

    async def rejected(
        self,
        tx: Transaction,
        state: SagaState,
        reason: str,
        detail: str,
        *,
        now: datetime,
        cause: MessageContext,
    ) -> None:
        """Inventory could not reserve: the order ends rejected."""
        if state.step != Step.RESERVING:
            return
        publisher, sink = self.publisher(tx, state.saga_id, state.stream_version)
        state = await self.change(publisher, state, "rejected", detail, now=now, cause=cause)
        await self._cancelled(publisher, state, reason, detail, now=now, cause=cause)
        await self.record(
            tx, state.move(Step.DONE, now=now, timeout=None, outcome="rejected"), sink
        )

    async def compensate(
        self,
        tx: Transaction,
        state: SagaState,
        reason: str,
        *,
        now: datetime,
        cause: MessageContext | None,
    ) -> None:
        """Give up the order: release its stock, then cancel once inventory confirms."""
        order_id = UUID(state.saga_id)
        publisher, sink = self.publisher(tx, order_id, state.stream_version)
        await publisher.release_stock(
            ReleaseStock(order_id=order_id, reason=reason),
            aggregate_id=str(order_id),
            cause=cause,
        )
        await self.record(
            tx,
            state.move(
                Step.RELEASING, now=now, timeout=self.timeouts.release, cancel_reason=reason
            ),
            sink,
        )

    async def stock_released(
        self, tx: Transaction, state: SagaState, *, now: datetime, cause: MessageContext
    ) -> None:
        """The compensation finished: the order ends cancelled."""
        if state.step != Step.RELEASING:
            return
        publisher, sink = self.publisher(tx, state.saga_id, state.stream_version)
        reason = state.data["cancel_reason"]
        state = await self.change(
            publisher, state, "cancelled", f"Cancelled: {reason}.", now=now, cause=cause
        )
        await self._cancelled(publisher, state, reason, None, now=now, cause=cause)
        await self.record(
            tx, state.move(Step.DONE, now=now, timeout=None, outcome="cancelled"), sink
        )

    async def paid(
        self,
        tx: Transaction,
        state: SagaState,
        payment_id: UUID,
        *,
        now: datetime,
        cause: MessageContext,
    ) -> None:
        """Payment taken: commit the stock and confirm; if the saga gave up, refund."""
        order_id = UUID(state.saga_id)
        publisher, sink = self.publisher(tx, order_id, state.stream_version)
        if state.step != Step.PAYING:
            if state.data.get("outcome") != "confirmed":
                await publisher.refund_payment(
                    RefundPayment(order_id=order_id, payment_id=payment_id, reason="order_failed"),
                    aggregate_id=str(order_id),
                    cause=cause,
                )
            await self.views.project(tx, await _appending(sink))
            return
        await publisher.commit_stock(
            CommitStock(order_id=order_id), aggregate_id=str(order_id), cause=cause
        )
        # No OrderStateChanged: OrderConfirmed is the announcement of this move, and its
        # consumers (the customer's receipt, analytics) would otherwise hear of it twice.
        state = rest_in(state, "confirmed")
        await publisher.order_confirmed(
            OrderConfirmed.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": state.data["customer_id"],
                    "payment_id": payment_id,
                    "items": state.data["items"],
                    "total": {"amount_minor": state.data["total_minor"], "currency": "EUR"},
                    "delivery": state.data["delivery"],
                    "confirmed_at": now,
                }
            ),
            aggregate_id=str(order_id),
            cause=cause,
        )
        await self.record(
            tx,
            state.move(
                Step.DONE, now=now, timeout=None, outcome="confirmed", payment_id=str(payment_id)
            ),
            sink,
        )

    async def _cancelled(
        self,
        publisher: Publisher,
        state: SagaState,
        reason: str,
        detail: str | None,
        *,
        now: datetime,
        cause: MessageContext | None,
    ) -> None:
        body: dict[str, Any] = {
            "order_id": state.saga_id,
            "customer_id": state.data["customer_id"],
            "reason": reason,
            "cancelled_at": now,
        }
        if detail:
            body["detail"] = detail[:500]
        await publisher.order_cancelled(
            OrderCancelled.model_validate(body), aggregate_id=state.saga_id, cause=cause
        )

    async def timed_out(self, tx: Transaction, state: SagaState, *, now: datetime) -> None:
        """A step missed its deadline: compensate (or, when releasing, try the release again)."""
        cause = self.cause_of(state)
        if state.step == Step.RESERVING:
            await self.compensate(tx, state, "stock_timeout", now=now, cause=cause)
        elif state.step == Step.PAYING:
            await self.compensate(tx, state, "payment_timeout", now=now, cause=cause)
        elif state.step == Step.RELEASING:
            await self.compensate(tx, state, state.data["cancel_reason"], now=now, cause=cause)


def rest_in(state: SagaState, status: str) -> SagaState:
    """The saga's state with the order resting in `status` (nothing announced)."""
    return replace(state, data={**state.data, "status": status})


async def _appending(sink: StreamSink) -> Sequence[Versioned]:
    """What the sink appends, with the versions it takes: still held back when the
    version is known (to go in the statement of the step's other writes), else appended
    now."""
    return sink.ahead() if sink.knows_version else await sink.flush()


def saga_data(**data: Any) -> dict[str, Any]:
    """JSON-safe saga data (UUIDs and datetimes as strings)."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded
