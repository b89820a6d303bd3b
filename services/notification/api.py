"""The notification service's REST API: the list, the live stream, the development outbox."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi.responses import Response, StreamingResponse

from generated.notification.models import NotificationList, NotificationOutboxList
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.notification.live import LiveFeed
from services.notification.tables import NotificationTables

__all__ = ["NotificationApi"]

ChannelName = Literal["email", "sms", "push", "realtime"]


class NotificationApi:
    """Implements `generated.notification.api.Api`."""

    def __init__(
        self,
        ctx: ServiceContext,
        tables: NotificationTables,
        feed: LiveFeed,
        *,
        dev_outbox: bool,
    ) -> None:
        self._ctx = ctx
        self._tables = tables
        self._feed = feed
        self._dev_outbox = dev_outbox

    async def list_notifications(
        self,
        principal: Principal,
        *,
        user_id: UUID,
        channel: ChannelName | None = None,
        limit: int = 20,
    ) -> NotificationList:
        """A user's notifications, newest first; the user's own, or any to an admin."""
        principal.require_owner(user_id, "these notifications")
        async with self._ctx.transaction() as tx:
            items = await self._tables.notifications(tx, user_id, channel, limit)
        return NotificationList(items=items)

    async def stream_notifications(self, principal: Principal, user_id: UUID) -> Response:
        """The user's live notifications as server-sent events; the user's own, or an admin."""
        principal.require_owner(user_id, "this notification stream")
        return StreamingResponse(
            self._feed.stream(user_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def list_dev_outbox(
        self,
        principal: Principal,
        *,
        user_id: UUID | None = None,
        channel: ChannelName | None = None,
        limit: int = 100,
    ) -> NotificationOutboxList:
        """What the development adapters recorded, newest first (admins; 404 without them)."""
        if not self._dev_outbox:
            raise ProblemError(404, "Not Found", "No development channel adapter is configured.")
        async with self._ctx.transaction() as tx:
            items = await self._tables.dev_outbox(tx, user_id, channel, limit)
        return NotificationOutboxList(items=items)
