"""Payment's handlers: charge through the gateway, split the money, refund."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from generated.payment.events import Publisher
from generated.payment.models import (
    ArtisanPerformanceEvaluated,
    ArtisanVerified,
    Payment,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentSplitCreated,
    PaymentSucceeded,
    ProcessPayment,
    RefundPayment,
)
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.payment.domain import GatewayOutcome, SimulatedGateway, Tier, split
from services.payment.payments import PaymentTables

__all__ = ["PaymentHandlers"]


def _eur(minor: int) -> dict[str, Any]:
    return {"amount_minor": minor, "currency": "EUR"}


class PaymentHandlers:
    """Implements `generated.payment.events.Handlers`."""

    def __init__(
        self, ctx: ServiceContext, tables: PaymentTables, gateway: SimulatedGateway
    ) -> None:
        self._ctx = ctx
        self._tables = tables
        self._gateway = gateway

    async def _publisher(self, tx: Transaction, payment_id: UUID) -> Publisher:
        stream = f"payment-{payment_id}"
        return Publisher(await StreamSink.at_end(tx, stream))

    async def process_payment(self, message: ProcessPayment, context: MessageContext) -> None:
        """Charge the order once; announce success with its split, or the failure."""
        async with self._ctx.handling(context, "process_payment") as tx:
            if tx is None:
                return
            now, payment_id = self._ctx.clock(), uuid.uuid4()
            common = {
                "payment_id": payment_id,
                "order_id": message.order_id,
                "customer_id": message.customer_id,
                "amount": message.amount,
            }
            payment = Payment.model_validate({**common, "status": "initiated", "updated_at": now})
            tiers = await self._tables.claim(
                tx, payment, [line.artisan_id for line in message.lines]
            )
            if tiers is None:
                return  # the order has its payment already
            publisher = await self._publisher(tx, payment_id)
            await publisher.payment_initiated(
                PaymentInitiated.model_validate({**common, "initiated_at": now}),
                aggregate_id=str(payment_id),
                cause=context,
            )
            # The simulator answers at once; a real gateway would be called outside this
            # transaction, with the initiated payment committed first.
            outcome = await self._gateway.charge(message.card_token, message.amount.amount_minor)
            if outcome is GatewayOutcome.SUCCEEDED:
                payment = await self._succeeded(publisher, message, payment, tiers, context)
            elif outcome is not GatewayOutcome.NO_ANSWER:
                reason = outcome.value
                await publisher.payment_failed(
                    PaymentFailed.model_validate({**common, "reason": reason, "failed_at": now}),
                    aggregate_id=str(payment_id),
                    cause=context,
                )
                payment = payment.model_copy(update={"status": "failed", "failure_reason": reason})
            await self._tables.save(tx, payment)

    async def _succeeded(
        self,
        publisher: Publisher,
        message: ProcessPayment,
        payment: Payment,
        tiers: dict[UUID, Tier],
        context: MessageContext,
    ) -> Payment:
        now = self._ctx.clock()
        await publisher.payment_succeeded(
            PaymentSucceeded(
                payment_id=payment.payment_id,
                order_id=message.order_id,
                customer_id=message.customer_id,
                amount=message.amount,
                succeeded_at=now,
            ),
            aggregate_id=str(payment.payment_id),
            cause=context,
        )
        gross = [(line.artisan_id, line.amount.amount_minor) for line in message.lines]
        lines = split(gross, tiers)
        created = PaymentSplitCreated.model_validate(
            {
                "payment_id": payment.payment_id,
                "order_id": message.order_id,
                "splits": [
                    {
                        "artisan_id": s.artisan_id,
                        "tier": s.tier,
                        "gross": _eur(s.gross_minor),
                        "fee_rate_bp": s.fee_rate_bp,
                        "marketplace_fee": _eur(s.fee_minor),
                        "net": _eur(s.net_minor),
                    }
                    for s in lines
                ],
                "marketplace_fee_total": _eur(sum(s.fee_minor for s in lines)),
                "created_at": now,
            }
        )
        await publisher.payment_split_created(
            created, aggregate_id=str(payment.payment_id), cause=context
        )
        return Payment.model_validate(
            {
                **payment.model_dump(),
                "status": "succeeded",
                "splits": [s.model_dump() for s in created.splits],
                "updated_at": now,
            }
        )

    async def refund_payment(self, message: RefundPayment, context: MessageContext) -> None:
        """Refund a succeeded payment; anything else has nothing to refund."""
        async with self._ctx.handling(context, "refund_payment") as tx:
            payment = await self._tables.by_order(tx, message.order_id) if tx else None
            if tx is None or payment is None or payment.status != "succeeded":
                return
            now = self._ctx.clock()
            publisher = await self._publisher(tx, payment.payment_id)
            await publisher.payment_refunded(
                PaymentRefunded(
                    payment_id=payment.payment_id,
                    order_id=payment.order_id,
                    customer_id=payment.customer_id,
                    amount=payment.amount,
                    refunded_at=now,
                ),
                aggregate_id=str(payment.payment_id),
                cause=context,
            )
            await self._tables.save(
                tx, payment.model_copy(update={"status": "refunded", "updated_at": now})
            )

    async def on_artisan_performance_evaluated(
        self, message: ArtisanPerformanceEvaluated, context: MessageContext
    ) -> None:
        """Remember the artisan's tier: it sets the marketplace fee of later payments."""
        async with self._ctx.handling(context, "on_artisan_performance_evaluated") as tx:
            if tx is not None:
                await self._tables.set_tier(
                    tx, message.artisan_id, message.tier, message.evaluated_at
                )

    async def on_artisan_verified(self, message: ArtisanVerified, context: MessageContext) -> None:
        """Take the verified level as the artisan's tier (basic 12 %, premium 10 %, master 8 %)."""
        async with self._ctx.handling(context, "on_artisan_verified") as tx:
            if tx is not None:
                await self._tables.set_tier(
                    tx, message.artisan_id, message.verification_level, message.verified_at
                )
