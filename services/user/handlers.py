"""The user service's message handlers: each one idempotent, in one transaction."""

from __future__ import annotations

import logging

from generated.user.models import LoyaltyTierChanged, OrderDelivered
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.user.users import Users

__all__ = ["UserHandlers"]

log = logging.getLogger(__name__)


class UserHandlers:
    """Implements `generated.user.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, users: Users) -> None:
        self._ctx = ctx
        self._users = users

    async def on_order_delivered(self, message: OrderDelivered, context: MessageContext) -> None:
        """Count the delivered order and re-evaluate the customer's segment."""
        async with self._ctx.handling(context, "on_order_delivered") as tx:
            if tx is None:
                return
            views, now = self._users.views, self._ctx.clock()
            if await views.lock(tx, message.customer_id) is None:
                log.warning("order %s delivered to unknown user", message.order_id)
                return
            await views.count_delivered_order(tx, message.customer_id, now)
            await self._users.resegment(tx, message.customer_id, now=now, cause=context)

    async def on_loyalty_tier_changed(
        self, message: LoyaltyTierChanged, context: MessageContext
    ) -> None:
        """Store the new loyalty tier on the profile and re-evaluate the segment."""
        async with self._ctx.handling(context, "on_loyalty_tier_changed") as tx:
            if tx is None:
                return
            views, now = self._users.views, self._ctx.clock()
            if await views.lock(tx, message.user_id) is None:
                log.warning("loyalty tier of unknown user %s changed", message.user_id)
                return
            stored = await views.set_loyalty_tier(
                tx, message.user_id, message.to_tier, message.changed_at, now
            )
            if stored:
                await self._users.resegment(tx, message.user_id, now=now, cause=context)
