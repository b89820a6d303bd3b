"""The artisan service's message handlers and the periodic re-evaluation of promoted tiers.

Each handler is idempotent (the inbox, plus natural keys on deliveries and earnings) and
runs in one transaction with the events it records.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from generated.artisan.events import Publisher
from generated.artisan.models import (
    ArtisanPerformanceEvaluated,
    OrderDelivered,
    PaymentSplitCreated,
    StockThresholdReached,
)
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.artisan.artisans import ArtisanTables
from services.artisan.domain import TierRule

__all__ = ["ArtisanHandlers", "stream_of"]

log = logging.getLogger(__name__)


def stream_of(artisan_id: UUID) -> str:
    """The event stream of one artisan."""
    return f"artisan-{artisan_id}"


class ArtisanHandlers:
    """Implements `generated.artisan.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: ArtisanTables, rule: TierRule) -> None:
        self._ctx = ctx
        self._tables = tables
        self._rule = rule

    async def on_order_delivered(self, message: OrderDelivered, context: MessageContext) -> None:
        """Count the order once for each of its artisans and re-evaluate their tiers."""
        async with self._ctx.handling(context, "on_order_delivered") as tx:
            if tx is None:
                return
            now = self._ctx.clock()
            for artisan_id in sorted({item.artisan_id for item in message.items}):
                if await self._tables.record_delivery(
                    tx, artisan_id, message.order_id, message.delivered_at
                ):
                    await self.evaluate(tx, artisan_id, now=now, cause=context)

    async def on_stock_threshold_reached(
        self, message: StockThresholdReached, context: MessageContext
    ) -> None:
        """Flag the product as running low on the artisan's dashboard."""
        async with self._ctx.handling(context, "on_stock_threshold_reached") as tx:
            if tx is not None:
                await self._tables.flag_low_stock(
                    tx,
                    product_id=message.product_id,
                    artisan_id=message.artisan_id,
                    level=message.level,
                    threshold=message.threshold,
                    reached_at=message.reached_at,
                )

    async def on_payment_split_created(
        self, message: PaymentSplitCreated, context: MessageContext
    ) -> None:
        """Record each artisan's share of the payment, net of the marketplace fee."""
        async with self._ctx.handling(context, "on_payment_split_created") as tx:
            if tx is not None:
                await self._tables.record_earnings(tx, message)

    async def evaluate(
        self, tx: Transaction, artisan_id: UUID, *, now: datetime, cause: MessageContext | None
    ) -> ArtisanPerformanceEvaluated | None:
        """Apply the tier rule to an active artisan; record the evaluation when the tier moves."""
        locked = await self._tables.lock(tx, artisan_id)
        if locked is None:
            log.info("delivery counted for unknown artisan %s", artisan_id)
            return None
        if locked.artisan.status != "active" or locked.verified_level is None:
            return None
        previous = locked.artisan.verification_level or locked.verified_level
        since = now - self._rule.window
        orders = await self._tables.delivered_since(tx, artisan_id, since)
        tier = self._rule.tier(locked.verified_level, orders, None)
        await self._tables.set_tier(tx, artisan_id, tier, now, changed=tier != previous)
        if tier == previous:
            return None
        event = ArtisanPerformanceEvaluated(
            artisan_id=artisan_id,
            period_start=since,
            period_end=now,
            orders_delivered=orders,
            average_rating=0,  # no contract carries ratings yet: see services.artisan.domain
            previous_tier=previous,
            tier=tier,
            evaluated_at=now,
        )
        publisher = Publisher(await StreamSink.at_end(tx, stream_of(artisan_id)))
        await publisher.artisan_performance_evaluated(
            event, aggregate_id=str(artisan_id), cause=cause
        )
        return event

    async def reevaluate_promoted(self, *, limit: int = 100) -> int:
        """Re-evaluate promoted artisans not evaluated for a day, so old deliveries age out."""
        async with self._ctx.transaction() as tx:
            now = self._ctx.clock()
            due = await self._tables.promoted_due(tx, now - timedelta(days=1), limit)
            for artisan_id in due:
                await self.evaluate(tx, artisan_id, now=now, cause=None)
        return len(due)
