"""The loyalty service's message handlers: each one idempotent, in one transaction."""

from __future__ import annotations

from generated.loyalty.models import OrderDelivered, UserRegistered
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.loyalty.accounts import Accounts

__all__ = ["LoyaltyHandlers"]


class LoyaltyHandlers:
    """Implements `generated.loyalty.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, accounts: Accounts) -> None:
        self._ctx = ctx
        self._accounts = accounts

    async def on_user_registered(self, message: UserRegistered, context: MessageContext) -> None:
        """Open a bronze account with 0 points."""
        async with self._ctx.handling(context, "on_user_registered") as tx:
            if tx is not None:
                await self._accounts.open(tx, message.user_id, self._ctx.clock())

    async def on_order_delivered(self, message: OrderDelivered, context: MessageContext) -> None:
        """Award the order's points (opening the account if needed) and move the tier."""
        async with self._ctx.handling(context, "on_order_delivered") as tx:
            if tx is not None:
                await self._accounts.award(
                    tx,
                    user_id=message.customer_id,
                    order_id=message.order_id,
                    total_minor=message.total.amount_minor,
                    now=self._ctx.clock(),
                    cause=context,
                )
