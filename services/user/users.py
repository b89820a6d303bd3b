"""The write side of a user: appends to its `user-<id>` stream and keeps the segment current.

Every writer first locks the user's row (`UserViews.lock`), so writers of one user queue
in the database instead of racing for the stream's next version.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from generated.user.events import Publisher
from generated.user.models import UserSegmentChanged
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.outbox.sink import StreamSink
from services.user.domain import segment_of
from services.user.views import UserViews

__all__ = ["Users", "stream_of"]


def stream_of(user_id: UUID) -> str:
    """The event stream of one user."""
    return f"user-{user_id}"


class Users:
    """Records users' events in their streams and projects them; runs in the caller's tx."""

    def __init__(self, views: UserViews) -> None:
        self.views = views

    def publisher(
        self, tx: Transaction, user_id: UUID, version: int
    ) -> tuple[Publisher, StreamSink]:
        """A publisher appending to the user's stream after `version` (0 for a new user)."""
        sink = StreamSink(tx, stream_of(user_id), version)
        return Publisher(sink), sink

    async def resegment(
        self, tx: Transaction, user_id: UUID, *, now: datetime, cause: MessageContext | None
    ) -> UserSegmentChanged | None:
        """Re-read the user (locking it), apply the segment rule, and record any change."""
        user = await self.views.lock(tx, user_id)
        if user is None:
            return None
        segment, reason = segment_of(await self.views.standing(tx, user))
        if segment == user.profile.segment:
            return None
        change = UserSegmentChanged(
            user_id=user_id,
            from_segment=user.profile.segment,
            to_segment=segment,
            reason=reason,
            changed_at=now,
        )
        publisher, sink = self.publisher(tx, user_id, user.version)
        await publisher.user_segment_changed(change, aggregate_id=str(user_id), cause=cause)
        await self.views.project(tx, await sink.flush())
        return change
