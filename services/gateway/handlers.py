"""The gateway's message handler: deny a revoked session's tokens."""

from __future__ import annotations

from generated.gateway.models import SessionRevokedV2
from runtime.bus.base import MessageContext
from services.gateway.denylist import DenyList

__all__ = ["GatewayHandlers"]


class GatewayHandlers:
    """Implements `generated.gateway.events.Handlers`.

    Idempotent without the inbox: storing a deny-list entry twice stores the same entry,
    and its only effect lives in Redis, not in the gateway's database.
    """

    def __init__(self, deny_list: DenyList) -> None:
        self._deny_list = deny_list

    async def on_session_revoked(self, message: SessionRevokedV2, context: MessageContext) -> None:
        """Deny the session's tokens until they expire."""
        await self._deny_list.deny(message.session_id, message.revoked_at)
