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
from collections.abc import Sequence, Set
from contextlib import AbstractAsyncContextManager
from typing import NamedTuple, Protocol

from runtime.errors import PlatformError
from runtime.eventstore.base import RecordedEvent

__all__ = [
    "Outbox",
    "OutboxBatch",
    "OutboxError",
    "OutboxPublishError",
    "OutboxRelay",
    "RawMessage",
    "RawPublisher",
    "bus_headers",
]

logger = logging.getLogger(__name__)


class OutboxError(PlatformError):
    """Base of the outbox's errors."""


class OutboxPublishError(OutboxError):
    """Publishing an event failed; it and the rest of its batch stay pending."""


class RawMessage(NamedTuple):
    """One stored event as the bus gets it: bytes, headers, and the id it is deduplicated by."""

    subject: str
    payload: bytes
    headers: dict[str, str]
    message_id: str


class RawPublisher(Protocol):
    """The bus side: publish bytes with headers, deduplicated by `message_id`."""

    async def publish_all(self, messages: Sequence[RawMessage]) -> list[BaseException | None]:
        """Publish `messages`, written in order, and wait for the bus's acknowledgements:
        one result per message, None where the bus stored it, else why not."""
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
    """The store side: claim pending events, count them, wait for new ones, and hand over
    what this process committed."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]:
        """Claim up to `limit` pending events, skipping those another relay holds."""
        ...

    async def pending_count(self) -> int:
        """How many events wait to be published (the outbox backlog metric)."""
        ...

    async def wait_for_append(self, timeout: float) -> bool:
        """Wait until an append is announced (True) or `timeout` seconds pass (False)."""
        ...

    def take_committed(self) -> list[RecordedEvent] | None:
        """What this process committed since the last take, in commit order; None when
        the relay must claim the table instead (no hand-off, or events were dropped)."""
        ...

    def discard_committed(self, positions: Set[int]) -> None:
        """Forget handed events that a claim has just published."""
        ...

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Mark these events published, outside any claim."""
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

    Two paths, one guarantee. **Claiming** (`relay_once`): claiming, publishing and
    marking happen in one transaction, so an event is marked only after the bus accepted
    it, and concurrent relays never publish the same event. **Following**: the events this
    process commits are handed over by its store and published at once, without a claim,
    and their marks are written later, many in one statement (`mark_every` events, or
    `mark_delay` seconds after the last). Following saves a busy service three round trips
    and a commit for every batch it publishes; the claim then runs once per
    `poll_interval`, for what others appended and for what following could not publish.

    `run` claims until the table is drained, follows until a poll is due, and again. A
    publish that fails while following ends it: the events stay pending and the claim
    that follows publishes them, and everything after them, in position order. Either way
    an event that crashes out between its publication and its mark is published again,
    with the same message id (the event id), and the bus's duplicate window
    (`Nats-Msg-Id`) drops the copy. Delivery to the bus is therefore at least once, and
    effectively once within the duplicate window. Events of one batch are all in flight
    together but written in position order on one connection, so a stream's order holds
    within a relay; events after a failed one stay pending (if the bus took them anyway,
    their republication is dropped as a duplicate).
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: RawPublisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        retry_delay: float = 1.0,
        mark_every: int = 256,
        mark_delay: float = 0.2,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._mark_every = mark_every
        self._mark_delay = mark_delay
        self._unmarked: list[int] = []

    async def pending_count(self) -> int:
        """The outbox backlog, for the metrics endpoint (published events whose marks are
        still held back count until they are written)."""
        return await self._outbox.pending_count()

    async def relay_once(self) -> int:
        """Claim and publish one batch of pending events; return how many were published.

        If the publisher fails, the events it accepted before are marked, the rest stay
        pending, and OutboxPublishError is raised after the commit.
        """
        return await self._claim(set())

    async def _claim(self, claimed: set[int]) -> int:
        """`relay_once`, adding the positions it published to `claimed`."""
        async with self._outbox.claim(self._batch_size) as batch:
            published, failure = await self._publish(batch.events)
            await batch.mark_published(published)  # the failure is raised once these are marked
        claimed.update(published)
        if failure is not None:
            raise OutboxPublishError(
                f"publishing event {len(published) + 1} of a batch failed: {failure}"
            ) from failure
        return len(published)

    async def _publish(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[list[int], BaseException | None]:
        """Publish `events`: the positions the bus accepted before the first it refused,
        and that refusal (None if it took them all).

        Pipelined: every publish is in flight at once, written to the bus in position order
        on one connection, so the stream keeps that order.
        """
        results = await self._publisher.publish_all(
            [
                RawMessage(event.subject, event.payload, bus_headers(event), str(event.event_id))
                for event in events
            ]
        )
        accepted: list[int] = []
        for event, result in zip(events, results, strict=True):
            if result is not None:
                return accepted, result
            accepted.append(event.position)
        return accepted, None

    async def publish_committed(self, events: Sequence[RecordedEvent]) -> None:
        """Publish events handed over by the store; their marks are held back.

        Raises OutboxPublishError at the first event the bus refused: it and those after it
        stay pending for the next claim.
        """
        accepted, failure = await self._publish(events)
        self._unmarked += accepted
        if failure is not None:
            raise OutboxPublishError(
                f"publishing committed event {events[len(accepted)].event_id} failed: {failure}"
            ) from failure
        if len(self._unmarked) >= self._mark_every:
            await self.flush_marks()

    async def flush_marks(self) -> None:
        """Write the marks held back, in one statement (kept for a retry if it fails)."""
        if not self._unmarked:
            return
        positions, self._unmarked = self._unmarked, []
        try:
            await self._outbox.mark_published(positions)
        except BaseException:
            self._unmarked = positions + self._unmarked
            raise

    async def run(self) -> None:
        """Relay until cancelled: claim the table until drained, follow the hand-off until
        a poll is due, and again."""
        try:
            while True:
                await self._catch_up()
                await self._follow()
        finally:
            try:
                await self.flush_marks()
            except Exception:  # the events are published again, and dropped as copies
                logger.warning("outbox relay stopped with marks unwritten", exc_info=True)

    async def _catch_up(self) -> None:
        """Claim until a claim finds less than a batch, then forget what it published."""
        await self.flush_marks()
        claimed: set[int] = set()
        while True:
            try:
                count = await self._claim(claimed)
            except OutboxPublishError:
                logger.warning("outbox relay will retry", exc_info=True)
                await asyncio.sleep(self._retry_delay)
                continue
            if count < self._batch_size:
                break
        self._outbox.discard_committed(claimed)

    async def _follow(self) -> None:
        """Publish what the store hands over, until a poll is due, a publish fails, or
        there is nothing to take (no hand-off, or events were dropped): a claim is next."""
        loop = asyncio.get_running_loop()
        poll_at = loop.time() + self._poll_interval
        while True:
            remaining = poll_at - loop.time()
            if remaining <= 0:
                return
            if self._unmarked and remaining > self._mark_delay:
                if not await self._outbox.wait_for_append(self._mark_delay):
                    await self.flush_marks()
                    continue
            elif not await self._outbox.wait_for_append(remaining):
                return
            events = self._outbox.take_committed()
            if events is None:
                return
            try:
                await self.publish_committed(events)
            except OutboxPublishError:
                logger.warning("outbox relay will claim what it could not publish", exc_info=True)
                await asyncio.sleep(self._retry_delay)
                return
