"""The chat service's message handlers: keep users' names current; each one idempotent."""

from __future__ import annotations

from generated.chat.models import UserProfileUpdated, UserRegistered
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.chat.tables import ChatTables

__all__ = ["ChatHandlers"]


class ChatHandlers:
    """Implements `generated.chat.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: ChatTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def on_user_registered(self, message: UserRegistered, context: MessageContext) -> None:
        """Keep the new user's name, for conversations opened while it cannot be asked."""
        async with self._ctx.handling(context, "on_user_registered") as tx:
            if tx is None:
                return
            await self._tables.remember_name(
                tx, message.user_id, message.full_name, message.registered_at
            )

    async def on_user_profile_updated(
        self, message: UserProfileUpdated, context: MessageContext
    ) -> None:
        """Show the user's new name in every conversation (unless a later one is kept)."""
        async with self._ctx.handling(context, "on_user_profile_updated") as tx:
            if tx is None:
                return
            await self._tables.remember_name(
                tx, message.user_id, message.full_name, message.updated_at
            )
