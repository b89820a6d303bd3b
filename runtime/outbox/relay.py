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

    @property
    def fed(self) -> bool:
        """Whether the store hands over what it commits (`take_committed`)."""
        ...

    def take_committed(self) -> list[RecordedEvent] | None:
        """Events this process committed since the last call, oldest first; None when some
        were dropped (the feed overflowed): they are still pending, to be claimed."""
        ...

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Mark these events published (they were taken, not claimed)."""
        ...

    def claim(self, limit: int, min_age: float = 0.0) -> AbstractAsyncContextManager[OutboxBatch]:
        """Claim up to `limit` pending events at least `min_age` seconds old, skipping those
        another relay holds."""
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

    Two paths. **Claimed**: pending rows are claimed, published and marked in one
    transaction, so an event is marked only after the bus accepted it, and concurrent relays
    never publish the same event. **Taken**: when the store feeds the outbox what this
    process commits, the relay publishes those events as soon as they commit and marks them
    in one statement afterwards: no claim, no transaction held open across the publish (3
    round trips fewer per batch). The claimed path still runs at every poll for what the
    feed does not carry (appends of other processes, events left by a crash), leaving alone
    rows younger than `grace` seconds, which the feed of a live process is publishing.

    Either way delivery to the bus is at least once, and effectively once within the
    duplicate window (`Nats-Msg-Id` is the event id): a relay that crashes between publish
    and mark leaves the event pending, and its republication is dropped as a copy. A stream's
    order holds: events are published in the order their transactions committed, which for
    one stream is version order. When a taken event fails to publish, the relay stops taking
    (what it would take next may belong to the same stream) and claims every pending row,
    oldest first, until the outbox is empty; then it takes again.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: RawPublisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        retry_delay: float = 1.0,
        grace: float = 10.0,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._grace = grace
        self._claiming = True
        """Whether the relay claims every pending row (at start and after a failure)
        rather than taking what the feed hands over."""

    async def pending_count(self) -> int:
        """The outbox backlog, for the metrics endpoint."""
        return await self._outbox.pending_count()

    async def relay_once(self) -> int:
        """Publish what is waiting: the feed's events, or one claimed batch when the relay
        is claiming; return how many were published.

        If the publisher fails, the events it accepted before are marked, the rest stay
        pending, and OutboxPublishError is raised after the marks.
        """
        if self._claiming or not self._outbox.fed:
            count = await self._relay_claimed(0.0)
            if count < self._batch_size and self._outbox.fed:
                # Drained: take what commits from now on. What the feed holds already was
                # claimed above, or committed since: publishing it again is dropped as a copy.
                self._claiming = False
            return count
        return await self._relay_taken()

    async def poll_once(self) -> int:
        """Claim one batch of rows the feed does not carry (older than the grace)."""
        if self._claiming or not self._outbox.fed:
            return await self.relay_once()
        return await self._relay_claimed(self._grace)

    async def _relay_taken(self) -> int:
        events = self._outbox.take_committed()
        if events is None:  # the feed dropped events: they are pending rows now
            self._claiming = True
            return await self.relay_once()
        if not events:
            return 0
        published, failure = await self._publish(events)
        await self._outbox.mark_published(published)
        if failure is not None:
            self._claiming = True
            raise OutboxPublishError(
                f"publishing event {len(published) + 1} of {len(events)} failed: {failure}"
            ) from failure
        return len(published)

    async def _relay_claimed(self, min_age: float) -> int:
        async with self._outbox.claim(self._batch_size, min_age) as batch:
            published, failure = await self._publish(batch.events)
            await batch.mark_published(published)
        if failure is not None:
            raise OutboxPublishError(
                f"publishing event {len(published) + 1} of a batch failed: {failure}"
            ) from failure
        return len(published)

    async def _publish(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[list[int], BaseException | None]:
        """Publish pipelined; the positions accepted before the first failure, and it."""
        # Every publish is in flight at once, written to the bus in order on one
        # connection, so the stream keeps that order.
        results = await asyncio.gather(
            *(
                self._publisher.publish_raw(
                    event.subject, event.payload, bus_headers(event), str(event.event_id)
                )
                for event in events
            ),
            return_exceptions=True,
        )
        published: list[int] = []
        for event, result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                return published, result
            published.append(event.position)
        return published, None

    async def run(self) -> None:
        """Relay until cancelled: publish what commits as it commits, and claim at each
        poll what no signal announced."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self._poll_interval
        while True:
            try:
                if loop.time() >= next_poll:
                    next_poll = loop.time() + self._poll_interval
                    count = await self.poll_once()
                else:
                    count = await self.relay_once()
            except OutboxPublishError:
                logger.warning("outbox relay will retry", exc_info=True)
                await asyncio.sleep(self._retry_delay)
                continue
            if count < self._batch_size:
                await self._outbox.wait_for_append(max(0.0, next_poll - loop.time()))
