"""An `EventSink` that appends to an aggregate's stream inside a transaction.

A generated `Publisher` given this sink records its messages in the events table, so they
commit with the handler's effects and the relay publishes them afterwards (the outbox).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from runtime.bus.base import Channel, MessageContext
from runtime.bus.envelope import CE_ID, build_headers
from runtime.eventstore.base import NewEvent, RecordedEvent, Transaction

__all__ = ["StreamSink"]

_NAMESPACE = uuid.UUID("5b0c7a52-6a5e-4c1f-9a41-a4c0a4c0a4c0")


class StreamSink:
    """Appends every sent message to one stream, each at the next expected version."""

    def __init__(self, tx: Transaction, stream_id: str, version: int) -> None:
        self._tx = tx
        self.stream_id = stream_id
        self.version = version
        self.recorded: list[RecordedEvent] = []

    @classmethod
    async def at_end(cls, tx: Transaction, stream_id: str) -> StreamSink:
        """A sink appending after the stream's current version."""
        return cls(tx, stream_id, await tx.stream_version(stream_id))

    async def send(
        self,
        channel: Channel[Any],
        payload: BaseModel,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Append the message; a version conflict aborts the transaction (retry it whole)."""
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
        )
        ce_id = headers[CE_ID]
        event = NewEvent(
            type=channel.ce_type,
            subject=channel.subject,
            payload=payload.model_dump_json(exclude_none=True).encode(),
            aggregate_id=aggregate_id,
            headers=headers,
            event_id=_uuid_of(ce_id),
        )
        recorded = await self._tx.append(self.stream_id, self.version, [event])
        self.version += len(recorded)
        self.recorded += recorded
        return ce_id


def _uuid_of(message_id: str) -> uuid.UUID:
    """The message id as a UUID; a non-UUID id maps to a stable name-based UUID."""
    try:
        return uuid.UUID(message_id)
    except ValueError:
        return uuid.uuid5(_NAMESPACE, message_id)
