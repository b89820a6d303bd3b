"""The analytics projections: one idempotent handler per event, each in one transaction.

The inbox (`ServiceContext.handling`) makes a redelivered message a no-op; the upserts of
`AnalyticsTables` make the figures independent of the order in which events arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from generated.analytics.models import (
    ArtisanPerformanceEvaluated,
    ArtisanVerified,
    BookingConfirmed,
    NewProductListed,
    NotificationSent,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderStateChanged,
    PagePublished,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentSplitCreated,
    PaymentSucceeded,
    PointsAwarded,
    ProductCatalogUpdated,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    StockThresholdReached,
    UserBehaviorTracked,
    UserProfileUpdated,
    UserRegistered,
    UserSegmentChanged,
)
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.service import ServiceContext
from services.analytics.domain import day_of
from services.analytics.tables import AnalyticsTables
from services.analytics.watermarks import Watermarks

__all__ = ["AnalyticsHandlers"]

_LISTING = {"listed": False, "delisted": True}
"""What a catalogue change says of the listing state; other changes leave it alone."""


class AnalyticsHandlers:
    """Implements `generated.analytics.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: AnalyticsTables) -> None:
        self._ctx = ctx
        self._tables = tables
        self._watermarks = Watermarks.of(ctx, tables)

    @asynccontextmanager
    async def _handling(
        self, context: MessageContext, consumer: str
    ) -> AsyncIterator[Transaction | None]:
        """The inbox transaction of one message; the consumer's watermark moves after it."""
        async with self._ctx.handling(context, consumer) as tx:
            if tx is not None:
                self._ctx.after_commit(lambda: self._watermarks.saw(consumer, context.time))
            yield tx

    async def on_order_created(self, message: OrderCreated, context: MessageContext) -> None:
        """Count the order on the day it was placed; its customer ordered that day."""
        async with self._handling(context, "on_order_created") as tx:
            if tx is not None:
                await self._tables.order_placed(
                    tx, message.order_id, message.customer_id, message.placed_at
                )

    async def on_order_state_changed(
        self, message: OrderStateChanged, context: MessageContext
    ) -> None:
        """Record when the order entered its new status."""
        async with self._handling(context, "on_order_state_changed") as tx:
            if tx is not None:
                await self._tables.order_entered(
                    tx, message.order_id, message.to_status, message.changed_at
                )

    async def on_order_confirmed(self, message: OrderConfirmed, context: MessageContext) -> None:
        """Add the order's total to the day's revenue and its lines to product sales; the
        order entered `confirmed` (no OrderStateChanged announces that move)."""
        async with self._handling(context, "on_order_confirmed") as tx:
            if tx is not None:
                await self._tables.order_entered(
                    tx, message.order_id, "confirmed", message.confirmed_at
                )
                await self._tables.order_confirmed(
                    tx,
                    message.order_id,
                    message.customer_id,
                    total_minor=message.total.amount_minor,
                    confirmed_at=message.confirmed_at,
                    lines=[
                        (i.product_id, i.quantity, i.unit_price.amount_minor) for i in message.items
                    ],
                )

    async def on_order_cancelled(self, message: OrderCancelled, context: MessageContext) -> None:
        """Record the cancellation and count it by reason."""
        async with self._handling(context, "on_order_cancelled") as tx:
            if tx is not None:
                at = message.cancelled_at
                await self._tables.order_ended(
                    tx, message.order_id, message.customer_id, cancel_reason=message.reason, at=at
                )
                await self._tables.count(tx, at, "orders_cancelled", message.reason)

    async def on_order_delivered(self, message: OrderDelivered, context: MessageContext) -> None:
        """Record the delivery (its lead time is delivered_at - placed_at) and count it."""
        async with self._handling(context, "on_order_delivered") as tx:
            if tx is not None:
                at = message.delivered_at
                await self._tables.order_ended(tx, message.order_id, message.customer_id, at=at)
                await self._tables.count(tx, at, "orders_delivered")

    async def on_stock_reserved(self, message: StockReserved, context: MessageContext) -> None:
        """Count the reservation and its units."""
        async with self._handling(context, "on_stock_reserved") as tx:
            if tx is not None:
                units = sum(line.quantity for line in message.items)
                await self._tables.count(tx, context.time, "stock_reserved", amount=units)

    async def on_stock_reservation_failed(
        self, message: StockReservationFailed, context: MessageContext
    ) -> None:
        """Count the units missing, per product short."""
        async with self._handling(context, "on_stock_reservation_failed") as tx:
            if tx is not None:
                for line in message.unavailable:
                    missing = line.requested - line.available
                    await self._tables.count(
                        tx, context.time, "stock_short", str(line.product_id), missing
                    )

    async def on_stock_released(self, message: StockReleased, context: MessageContext) -> None:
        """Count the released reservation by reason, with its units."""
        async with self._handling(context, "on_stock_released") as tx:
            if tx is not None:
                units = sum(line.quantity for line in message.items)
                await self._tables.count(tx, context.time, "stock_released", message.reason, units)

    async def on_stock_threshold_reached(
        self, message: StockThresholdReached, context: MessageContext
    ) -> None:
        """Count the low-stock alert of the product."""
        async with self._handling(context, "on_stock_threshold_reached") as tx:
            if tx is not None:
                await self._tables.count(
                    tx, message.reached_at, "stock_threshold", str(message.product_id)
                )

    async def on_payment_initiated(
        self, message: PaymentInitiated, context: MessageContext
    ) -> None:
        """Count the payment started and its amount."""
        async with self._handling(context, "on_payment_initiated") as tx:
            if tx is not None:
                await self._tables.count(
                    tx,
                    message.initiated_at,
                    "payments_initiated",
                    amount=message.amount.amount_minor,
                )

    async def on_payment_succeeded(
        self, message: PaymentSucceeded, context: MessageContext
    ) -> None:
        """Count the payment taken and its amount."""
        async with self._handling(context, "on_payment_succeeded") as tx:
            if tx is not None:
                await self._tables.count(
                    tx,
                    message.succeeded_at,
                    "payments_succeeded",
                    amount=message.amount.amount_minor,
                )

    async def on_payment_failed(self, message: PaymentFailed, context: MessageContext) -> None:
        """Count the failed payment by reason, with its amount."""
        async with self._handling(context, "on_payment_failed") as tx:
            if tx is not None:
                await self._tables.count(
                    tx,
                    message.failed_at,
                    "payments_failed",
                    message.reason,
                    message.amount.amount_minor,
                )

    async def on_payment_split_created(
        self, message: PaymentSplitCreated, context: MessageContext
    ) -> None:
        """Add the marketplace fee, and each artisan's net by tier, to the day's figures."""
        async with self._handling(context, "on_payment_split_created") as tx:
            if tx is not None:
                at = message.created_at
                fee = message.marketplace_fee_total.amount_minor
                await self._tables.count(tx, at, "marketplace_fee", amount=fee)
                for split in message.splits:
                    await self._tables.count(
                        tx, at, "artisan_net", split.tier, split.net.amount_minor
                    )

    async def on_payment_refunded(self, message: PaymentRefunded, context: MessageContext) -> None:
        """Subtract the refund from its order's revenue and count it."""
        async with self._handling(context, "on_payment_refunded") as tx:
            if tx is not None:
                amount, at = message.amount.amount_minor, message.refunded_at
                await self._tables.refunded(tx, message.payment_id, message.order_id, amount, at)
                await self._tables.count(tx, at, "payments_refunded", amount=amount)

    async def on_user_registered(self, message: UserRegistered, context: MessageContext) -> None:
        """Count the sign-up on its day and keep the user's province."""
        async with self._handling(context, "on_user_registered") as tx:
            if tx is not None:
                await self._tables.registered(
                    tx, message.user_id, message.role, message.province, message.registered_at
                )

    async def on_user_behavior_tracked(
        self, message: UserBehaviorTracked, context: MessageContext
    ) -> None:
        """Mark the day's visitors (views, carts) and buyers, and count every action."""
        async with self._handling(context, "on_user_behavior_tracked") as tx:
            if tx is not None:
                action, at = message.action, message.tracked_at
                await self._tables.visited(
                    tx,
                    day_of(at),
                    message.user_id,
                    viewed=action == "viewed_product",
                    carted=action == "added_to_cart",
                    ordered=action == "purchased",
                )
                await self._tables.count(tx, at, "behavior", action)

    async def on_user_segment_changed(
        self, message: UserSegmentChanged, context: MessageContext
    ) -> None:
        """Keep the user's latest segment (segment sizes are counts of it)."""
        async with self._handling(context, "on_user_segment_changed") as tx:
            if tx is not None:
                await self._tables.segmented(
                    tx, message.user_id, message.to_segment, message.changed_at
                )

    async def on_user_profile_updated(
        self, message: UserProfileUpdated, context: MessageContext
    ) -> None:
        """Keep the user's latest province when it changed."""
        async with self._handling(context, "on_user_profile_updated") as tx:
            if tx is not None and message.province is not None:
                await self._tables.moved(tx, message.user_id, message.province, message.updated_at)

    async def on_artisan_verified(self, message: ArtisanVerified, context: MessageContext) -> None:
        """Count the artisan as verified, with their level and province."""
        async with self._handling(context, "on_artisan_verified") as tx:
            if tx is not None:
                await self._tables.artisan_verified(
                    tx,
                    message.artisan_id,
                    message.user_id,
                    level=message.verification_level,
                    province=message.province,
                    at=message.verified_at,
                )

    async def on_new_product_listed(
        self, message: NewProductListed, context: MessageContext
    ) -> None:
        """Record the product's name and category for the rankings."""
        async with self._handling(context, "on_new_product_listed") as tx:
            if tx is not None:
                await self._tables.product_listed(
                    tx,
                    message.product_id,
                    message.artisan_id,
                    name=message.name,
                    category=message.category,
                    at=message.listed_at,
                )

    async def on_artisan_performance_evaluated(
        self, message: ArtisanPerformanceEvaluated, context: MessageContext
    ) -> None:
        """Keep the artisan's latest performance figures and tier."""
        async with self._handling(context, "on_artisan_performance_evaluated") as tx:
            if tx is not None:
                await self._tables.artisan_evaluated(
                    tx,
                    message.artisan_id,
                    tier=message.tier,
                    orders_delivered=message.orders_delivered,
                    average_rating=message.average_rating,
                    at=message.evaluated_at,
                )

    async def on_product_catalog_updated(
        self, message: ProductCatalogUpdated, context: MessageContext
    ) -> None:
        """Keep the product's latest availability and whether it is still listed."""
        async with self._handling(context, "on_product_catalog_updated") as tx:
            if tx is not None:
                await self._tables.catalog_changed(
                    tx,
                    message.product_id,
                    message.artisan_id,
                    available=message.available,
                    delisted=_LISTING.get(message.change),
                    at=message.updated_at,
                )

    async def on_notification_sent(
        self, message: NotificationSent, context: MessageContext
    ) -> None:
        """Count the notification by channel and template."""
        async with self._handling(context, "on_notification_sent") as tx:
            if tx is not None:
                key = f"{message.channel}:{message.template}"
                await self._tables.count(tx, message.sent_at, "notifications", key)

    async def on_points_awarded(self, message: PointsAwarded, context: MessageContext) -> None:
        """Count the award and add its points."""
        async with self._handling(context, "on_points_awarded") as tx:
            if tx is not None:
                await self._tables.count(
                    tx, message.awarded_at, "points_awarded", amount=message.points
                )

    async def on_page_published(self, message: PagePublished, context: MessageContext) -> None:
        """Count the published page by locale."""
        async with self._handling(context, "on_page_published") as tx:
            if tx is not None:
                await self._tables.count(
                    tx, message.published_at, "pages_published", message.locale
                )

    async def on_booking_confirmed(
        self, message: BookingConfirmed, context: MessageContext
    ) -> None:
        """Count the booking and add its seats."""
        async with self._handling(context, "on_booking_confirmed") as tx:
            if tx is not None:
                await self._tables.count(
                    tx, message.confirmed_at, "seats_booked", amount=message.seats
                )
