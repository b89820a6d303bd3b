"""The notification service's message handlers: each one idempotent, in one transaction.

Each handler turns its message into notices (`templates`), sends them in the inbox's
transaction (`Notifier`), and after the commit (`ServiceContext.after_commit`, which also
waits for the one commit of a batch) publishes the realtime ones on the live feed, all of
a transaction's in one Redis round trip. A
live-feed failure is logged, not retried: the notification is stored and listed, and
redelivering the message would not resend it (the inbox already has it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from redis.exceptions import RedisError

from generated.notification import events as ev
from generated.notification.models import (
    ArtisanVerified,
    BookingConfirmed,
    ChatMessageSent,
    LocalEventPublished,
    LoyaltyTierChanged,
    Notification,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderStateChanged,
    PaymentRefunded,
    PointsAwarded,
    ShipmentCreated,
    ShipmentDelivered,
    ShipmentDispatched,
    StockThresholdReached,
    UserRegistered,
)
from runtime.bus.base import Channel, MessageContext
from runtime.eventstore.base import Transaction
from runtime.service import ServiceContext
from services.notification import templates as t
from services.notification.live import LiveFeed
from services.notification.notifier import Notifier, wait_for_recipient
from services.notification.tables import NotificationTables
from services.notification.templates import Notice

__all__ = ["NotificationHandlers"]

log = logging.getLogger(__name__)

Notices = Sequence[Notice] | Callable[[Transaction], Awaitable[Sequence[Notice]]]


class NotificationHandlers:
    """Implements `generated.notification.events.Handlers`."""

    def __init__(
        self,
        ctx: ServiceContext,
        tables: NotificationTables,
        notifier: Notifier,
        feed: LiveFeed,
    ) -> None:
        self._ctx = ctx
        self._tables = tables
        self._notifier = notifier
        self._feed = feed
        self._live: WeakKeyDictionary[Transaction, list[Notification]] = WeakKeyDictionary()

    async def _notify(
        self, context: MessageContext, consumer: str, channel: Channel[Any], notices: Notices
    ) -> None:
        async with self._ctx.handling(context, consumer) as tx:
            if tx is None:
                return
            found = notices if isinstance(notices, Sequence) else await notices(tx)
            live = await self._notifier.send(
                tx, found, cause=context, related_subject=channel.subject, now=self._ctx.clock()
            )
            # One push per transaction: a unit of twenty messages pushes once, after its commit.
            pending = self._live.get(tx)
            if pending is None:
                pending = self._live[tx] = []
                self._ctx.after_commit(partial(self._publish, pending))
            pending += live

    async def _publish(self, live: list[Notification]) -> None:
        """Push the committed notifications on the live feed (best effort)."""
        try:
            await self._feed.publish(live)
        except RedisError:
            log.warning("live feed unavailable; %d notifications stored only", len(live))

    async def on_order_state_changed(
        self, message: OrderStateChanged, context: MessageContext
    ) -> None:
        """Push the new status of the order to the customer's real-time stream."""
        notices = t.order_state_changed(message)
        await self._notify(context, "on_order_state_changed", ev.ORDER_STATE_CHANGED, notices)

    async def on_order_confirmed(self, message: OrderConfirmed, context: MessageContext) -> None:
        """Email the customer the receipt of the order, paid and confirmed."""
        notices = t.order_confirmed(message)
        await self._notify(context, "on_order_confirmed", ev.ORDER_CONFIRMED, notices)

    async def on_order_cancelled(self, message: OrderCancelled, context: MessageContext) -> None:
        """Email the customer that the order was cancelled, and why."""
        notices = t.order_cancelled(message)
        await self._notify(context, "on_order_cancelled", ev.ORDER_CANCELLED, notices)

    async def on_order_delivered(self, message: OrderDelivered, context: MessageContext) -> None:
        """Push a delivery notice and ask the customer for a review."""
        notices = t.order_delivered(message)
        await self._notify(context, "on_order_delivered", ev.ORDER_DELIVERED, notices)

    async def on_payment_refunded(self, message: PaymentRefunded, context: MessageContext) -> None:
        """Email the customer that the refund is on its way."""
        notices = t.payment_refunded(message)
        await self._notify(context, "on_payment_refunded", ev.PAYMENT_REFUNDED, notices)

    async def on_stock_threshold_reached(
        self, message: StockThresholdReached, context: MessageContext
    ) -> None:
        """Email the artisan that a product is running low."""

        async def notices(tx: Transaction) -> Sequence[Notice]:
            user_id = await self._tables.user_of_artisan(tx, message.artisan_id)
            if user_id is None:
                wait_for_recipient(context, f"the user of artisan {message.artisan_id}")
                log.warning("stock of unverified artisan %s is low", message.artisan_id)
                return []
            return t.stock_threshold_reached(message, user_id)

        channel = ev.STOCK_THRESHOLD_REACHED
        await self._notify(context, "on_stock_threshold_reached", channel, notices)

    async def on_user_registered(self, message: UserRegistered, context: MessageContext) -> None:
        """Send the welcome email."""

        async def notices(tx: Transaction) -> Sequence[Notice]:
            await self._tables.remember_user(tx, message)
            return t.user_registered(message)

        await self._notify(context, "on_user_registered", ev.USER_REGISTERED, notices)

    async def on_artisan_verified(self, message: ArtisanVerified, context: MessageContext) -> None:
        """Email the artisan that they can now sell."""

        async def notices(tx: Transaction) -> Sequence[Notice]:
            await self._tables.remember_artisan(tx, message.artisan_id, message.user_id)
            return t.artisan_verified(message)

        await self._notify(context, "on_artisan_verified", ev.ARTISAN_VERIFIED, notices)

    async def on_chat_message_sent(self, message: ChatMessageSent, context: MessageContext) -> None:
        """Alert the recipient of a chat message (real-time when connected, push otherwise)."""

        async def notices(tx: Transaction) -> Sequence[Notice]:
            sender = await self._tables.recipient(tx, message.sender_id)
            return t.chat_message_sent(message, sender.full_name if sender else None)

        await self._notify(context, "on_chat_message_sent", ev.CHAT_MESSAGE_SENT, notices)

    async def on_points_awarded(self, message: PointsAwarded, context: MessageContext) -> None:
        """Tell the customer how many points they earned."""
        notices = t.points_awarded(message)
        await self._notify(context, "on_points_awarded", ev.POINTS_AWARDED, notices)

    async def on_loyalty_tier_changed(
        self, message: LoyaltyTierChanged, context: MessageContext
    ) -> None:
        """Congratulate the customer on the new loyalty tier."""
        notices = t.loyalty_tier_changed(message)
        await self._notify(context, "on_loyalty_tier_changed", ev.LOYALTY_TIER_CHANGED, notices)

    async def on_shipment_created(self, message: ShipmentCreated, context: MessageContext) -> None:
        """Email the customer the tracking details of the shipment."""
        notices = t.shipment_created(message)
        await self._notify(context, "on_shipment_created", ev.SHIPMENT_CREATED, notices)

    async def on_shipment_dispatched(
        self, message: ShipmentDispatched, context: MessageContext
    ) -> None:
        """Push that the parcel is on its way."""
        notices = t.shipment_dispatched(message)
        await self._notify(context, "on_shipment_dispatched", ev.SHIPMENT_DISPATCHED, notices)

    async def on_shipment_delivered(
        self, message: ShipmentDelivered, context: MessageContext
    ) -> None:
        """Push that the parcel was delivered."""
        notices = t.shipment_delivered(message)
        await self._notify(context, "on_shipment_delivered", ev.SHIPMENT_DELIVERED, notices)

    async def on_local_event_published(
        self, message: LocalEventPublished, context: MessageContext
    ) -> None:
        """Announce the event to the customers of its province, in the app."""

        async def notices(tx: Transaction) -> Sequence[Notice]:
            users = await self._tables.customers_in(tx, message.province)
            return t.local_event_published(message, users)

        channel = ev.LOCAL_EVENT_PUBLISHED
        await self._notify(context, "on_local_event_published", channel, notices)

    async def on_booking_confirmed(
        self, message: BookingConfirmed, context: MessageContext
    ) -> None:
        """Email the user the booking confirmation."""
        notices = t.booking_confirmed(message)
        await self._notify(context, "on_booking_confirmed", ev.BOOKING_CONFIRMED, notices)
