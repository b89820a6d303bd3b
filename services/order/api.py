"""The order service's REST API: place, read, list and cancel orders."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from generated.order.models import (
    CancelOrderRequest,
    Order,
    OrderCreated,
    OrderPage,
    PlaceOrderRequest,
    ReserveStock,
)
from generated.user.client import UserClient
from runtime.bus.envelope import request_context
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.saga import SagaState
from runtime.service import ServiceContext
from services.order.domain import PricingError, per_artisan, price
from services.order.saga import OrderSaga, Step, saga_data

__all__ = ["OrderApi"]

RESERVATION_TTL_MINUTES = 15


class OrderApi:
    """Implements `generated.order.api.Api`."""

    def __init__(self, ctx: ServiceContext, saga: OrderSaga, users: UserClient) -> None:
        self._ctx = ctx
        self._saga = saga
        self._users = users

    async def place_order(self, principal: Principal, body: PlaceOrderRequest) -> Order:
        """Validate the customer, price the order, record it and start the saga."""
        principal.require_owner(body.customer_id, "this customer's orders")
        await self._validate_customer(principal, body.customer_id)
        if body.delivery.method == "standard" and body.delivery.address is None:
            raise ProblemError(422, "Unprocessable Content", "standard delivery needs an address")
        order_id, now, correlation = uuid.uuid4(), self._ctx.clock(), str(uuid.uuid4())
        cause = request_context(correlation, source="/services/order")
        lines = [(line.product_id, line.quantity) for line in body.items]
        async with self._ctx.transaction() as tx:
            catalogue = await self._saga.views.catalogue(tx, [p for p, _ in lines])
            try:
                priced, subtotal, fee = price(lines, catalogue, body.delivery.method)
            except PricingError as exc:
                raise ProblemError(422, "Unprocessable Content", str(exc)) from exc
            items = [
                {
                    "product_id": p.product_id,
                    "artisan_id": p.artisan_id,
                    "quantity": p.quantity,
                    "unit_price": {"amount_minor": p.unit_price_minor, "currency": "EUR"},
                }
                for p in priced
            ]
            delivery = body.delivery.model_dump(mode="json", exclude_none=True)
            publisher, sink = self._saga.publisher(tx, order_id, 0)  # a new stream
            await publisher.order_created(
                OrderCreated.model_validate(
                    {
                        "order_id": order_id,
                        "customer_id": body.customer_id,
                        "items": items,
                        "subtotal": _eur(subtotal),
                        "delivery_fee": _eur(fee),
                        "total": _eur(subtotal + fee),
                        "delivery": delivery,
                        "placed_at": now,
                    }
                ),
                aggregate_id=str(order_id),
                cause=cause,
            )
            await publisher.reserve_stock(
                ReserveStock.model_validate(
                    {
                        "order_id": order_id,
                        "items": [{"product_id": p, "quantity": q} for p, q in lines],
                        "expires_at": now + timedelta(minutes=RESERVATION_TTL_MINUTES),
                    }
                ),
                aggregate_id=str(order_id),
                cause=cause,
            )
            data = saga_data(
                customer_id=body.customer_id,
                status="pending",
                items=items,
                total_minor=subtotal + fee,
                delivery=delivery,
                card_token=body.card_token,
                correlation_id=correlation,
                per_artisan=sorted(per_artisan(priced).items()),
            )
            await self._saga.record(
                tx,
                SagaState(str(order_id), Step.RESERVING, data).move(
                    Step.RESERVING, now=now, timeout=self._saga.timeouts.stock
                ),
                sink,
            )
        # What the read model now holds for it, without reading it back.
        return Order.model_validate(
            {
                "order_id": order_id,
                "customer_id": body.customer_id,
                "status": "pending",
                "items": items,
                "total": _eur(subtotal + fee),
                "delivery": delivery,
                "placed_at": now,
                "updated_at": now,
            }
        )

    async def _validate_customer(self, principal: Principal, customer_id: UUID) -> None:
        """A registered customer: the caller's own token says so, else the user service.

        Auth signs a token only for a registered user's login, with that user's role, so a
        customer ordering for themselves needs no call (it was one REST round trip through
        two services per order). An admin ordering for someone else is checked with user.
        """
        if principal.subject == customer_id and principal.roles == frozenset({"customer"}):
            return
        try:
            profile = await self._users.with_token(principal.token).get_profile(customer_id)
        except ProblemError as exc:
            if exc.status == 404:
                raise ProblemError(
                    422,
                    "Unprocessable Content",
                    f"customer {customer_id} is not registered",
                    type="https://a4co.es/problems/customer-invalid",
                ) from exc
            raise
        if profile.role != "customer":
            raise ProblemError(
                422,
                "Unprocessable Content",
                f"user {customer_id} is a {profile.role}, not a customer",
            )

    async def get_order(self, principal: Principal, order_id: UUID) -> Order:
        """One order from the read model; customers see only their own."""
        async with self._ctx.transaction() as tx:
            order = await self._saga.views.get(tx, order_id)
        if order is None:
            raise ProblemError(404, "Not Found", f"No order {order_id}.")
        principal.require_owner(order.customer_id, "this order")
        return order

    async def list_orders(
        self,
        principal: Principal,
        *,
        customer_id: UUID,
        status: Any = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> OrderPage:
        """A customer's orders, newest first; customers list only their own."""
        principal.require_owner(customer_id, "this customer's orders")
        async with self._ctx.transaction() as tx:
            return await self._saga.views.page(tx, customer_id, status, limit, cursor)

    async def cancel_order(
        self, principal: Principal, order_id: UUID, body: CancelOrderRequest
    ) -> Order:
        """Cancel before payment: the saga's compensation runs."""
        async with self._ctx.transaction() as tx:
            state = await self._saga.sagas.get(tx, str(order_id))
            if state is None:
                raise ProblemError(404, "Not Found", f"No order {order_id}.")
            principal.require_owner(UUID(str(state.data["customer_id"])), "this order")
            if state.step not in (Step.RESERVING, Step.PAYING):
                raise ProblemError(
                    409,
                    "Conflict",
                    f"The order is {state.data['status']}; it can no longer be cancelled.",
                )
            await self._saga.compensate(
                tx,
                state,
                "customer_cancelled",
                now=self._ctx.clock(),
                cause=self._saga.cause_of(state),
            )
            order = await self._saga.views.get(tx, order_id)
        assert order is not None
        return order


def _eur(minor: int) -> dict[str, Any]:
    return {"amount_minor": minor, "currency": "EUR"}
