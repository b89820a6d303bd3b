"""Payment's REST API: payment status by id or by order."""

from __future__ import annotations

from uuid import UUID

from generated.payment.models import Payment, PaymentList
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.payment.payments import PaymentTables

__all__ = ["PaymentApi"]


class PaymentApi:
    """Implements `generated.payment.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: PaymentTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def get_payment(self, principal: Principal, payment_id: UUID) -> Payment:
        """One payment from the read model; customers see only their own."""
        async with self._ctx.transaction() as tx:
            payment = await self._tables.get(tx, payment_id)
        if payment is None:
            raise ProblemError(404, "Not Found", f"No payment {payment_id}.")
        principal.require_owner(payment.customer_id, "this payment")
        return payment

    async def list_payments(self, principal: Principal, *, order_id: UUID) -> PaymentList:
        """The payments of an order (at most one) that the caller may see."""
        async with self._ctx.transaction() as tx:
            payment = await self._tables.by_order(tx, order_id)
        if payment is not None:
            principal.require_owner(payment.customer_id, "this order's payments")
        return PaymentList(items=[payment] if payment else [])
