"""The outbox relay: publishes pending events from the store to the bus, then marks them.

PlatformError
 └── OutboxError
      └── OutboxPublishError   the publisher refused an event; it stays pending

The relay talks to two ports, `Outbox` (the store side) and `RawPublisher` (the bus side),
so it imports neither a database driver nor a bus client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from runtime.errors import PlatformError
from runtime.eventstore.base import RecordedEvent

__all__ = [
    "Outbox",
    "OutboxBatch",
    "OutboxError",
    "OutboxPublishError",
    "OutboxRelay",
    "RawPublisher",
    "bus_headers",
]

logger = logging.getLogger(__name__)


class OutboxError(PlatformError):
    """Base of the outbox's errors."""


class OutboxPublishError(OutboxError):
    """Publishing an event failed; it and the rest of its batch stay pending."""


class RawPublisher(Protocol):
    """The bus side: publish bytes with headers, deduplicated by `message_id`."""

    async def publish_raw(
        self, subject: str, payload: bytes, headers: dict[str, str], message_id: str
    ) -> None:
        """Publish and wait for the bus's acknowledgement; raise if it did not accept."""
        ...


class OutboxBatch(Protocol):
    """Pending events claimed by one relay; no other relay sees them until it ends."""

    @property
    def events(self) -> Sequence[RecordedEvent]:
        """The claimed events, in position order."""
        ...

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Mark these events published, committed when the claim ends."""
        ...


class Outbox(Protocol):
    """The store side: claim pending events, count them, wait for new ones."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]:
        """Claim up to `limit` pending events, skipping those another relay holds."""
        ...

    async def pending_count(self) -> int:
        """How many events wait to be published (the outbox backlog metric)."""
        ...

    async def wait_for_append(self, timeout: float) -> bool:
        """Wait until an append is announced (True) or `timeout` seconds pass (False)."""
        ...


def bus_headers(event: RecordedEvent) -> dict[str, str]:
    """The event's stored headers plus its CloudEvents id, type and time."""
    headers = dict(event.headers)
    headers["ce-id"] = str(event.event_id)
    headers["ce-type"] = event.type
    headers.setdefault("ce-time", event.recorded_at.isoformat())
    return headers


class OutboxRelay:
    """Publishes pending events in position order and marks them published.

    Claiming, publishing and marking happen in one transaction, so an event is marked
    only after the bus accepted it, and concurrent relays never publish the same event.
    A relay that crashes after publishing but before its commit leaves the event pending:
    it is published again, with the same message id (the event id), and the bus's
    duplicate window (`Nats-Msg-Id`) drops the copy. Delivery to the bus is therefore at
    least once, and effectively once within the duplicate window. Events of one batch are
    all in flight together but written in position order on one connection, so a stream's
    order holds within a relay; events after a failed one stay pending (if the bus took
    them anyway, their republication is dropped as a duplicate).
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: RawPublisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        retry_delay: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay

    async def pending_count(self) -> int:
        """The outbox backlog, for the metrics endpoint."""
        return await self._outbox.pending_count()

    async def relay_once(self) -> int:
        """Publish one batch of pending events; return how many were published.

        If the publisher fails, the events it accepted before are marked, the rest stay
        pending, and OutboxPublishError is raised after the commit.
        """
        failure: BaseException | None = None
        published: list[int] = []
        async with self._outbox.claim(self._batch_size) as batch:
            # Pipelined: every publish of the batch is in flight at once, written to the bus
            # in position order on one connection, so the stream keeps that order.
            results = await asyncio.gather(
                *(
                    self._publisher.publish_raw(
                        event.subject, event.payload, bus_headers(event), str(event.event_id)
                    )
                    for event in batch.events
                ),
                return_exceptions=True,
            )
            for event, result in zip(batch.events, results, strict=True):
                if isinstance(result, BaseException):  # raised below, once the rest are marked
                    failure = result
                    break
                published.append(event.position)
            await batch.mark_published(published)
        if failure is not None:
            raise OutboxPublishError(
                f"publishing event {len(published) + 1} of a batch failed: {failure}"
            ) from failure
        return len(published)

    async def run(self) -> None:
        """Relay until cancelled: drain the outbox, then wait for a NOTIFY or the poll."""
        while True:
            try:
                count = await self.relay_once()
            except OutboxPublishError:
                logger.warning("outbox relay will retry", exc_info=True)
                await asyncio.sleep(self._retry_delay)
                continue
            if count < self._batch_size:
                await self._outbox.wait_for_append(self._poll_interval)
