"""The outbox relay over real PostgreSQL, publishing to recording fakes of the bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from runtime.eventstore import NewEvent, RecordedEvent
from runtime.eventstore.base import CommittedEvents
from runtime.eventstore.postgres import PostgresEventStore
from runtime.outbox import OutboxPublishError, OutboxRelay, RawMessage
from runtime.outbox.postgres import PostgresOutbox

WAIT = 10.0  # generous: a slow CI machine still answers well within it


@dataclass
class Published:
    """One message the fake bus accepted."""

    subject: str
    payload: bytes
    headers: dict[str, str]
    message_id: str
    relay: str


@dataclass
class RecordingBus:
    """A fake bus: records what it accepts; fails the calls numbered in `fail_on`."""

    fail_on: set[int] = field(default_factory=set)
    messages: list[Published] = field(default_factory=list)
    calls: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def publisher(self, relay: str = "relay") -> RelayPublisher:
        """A publisher port that records under the relay's name."""
        return RelayPublisher(self, relay)

    async def wait_for(self, count: int) -> None:
        """Wait until `count` messages were accepted."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.messages) >= count), WAIT)

    @property
    def message_ids(self) -> list[str]:
        """The accepted message ids, in acceptance order."""
        return [m.message_id for m in self.messages]


@dataclass
class RelayPublisher:
    """The `RawPublisher` port of one relay on a `RecordingBus`."""

    bus: RecordingBus
    relay: str

    async def publish_all(self, messages: Sequence[RawMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for message in messages:
            try:
                await self._publish(*message)
            except ConnectionError as exc:
                results.append(exc)
            else:
                results.append(None)
        return results

    async def _publish(
        self, subject: str, payload: bytes, headers: dict[str, str], message_id: str
    ) -> None:
        self.bus.calls += 1
        call = self.bus.calls
        await asyncio.sleep(0.001)  # a round trip, so concurrent relays interleave
        if call in self.bus.fail_on:
            raise ConnectionError("the bus is unavailable")
        async with self.bus.changed:
            if message_id not in self.bus.message_ids:  # JetStream drops a repeated Nats-Msg-Id
                self.bus.messages.append(
                    Published(subject, payload, headers, message_id, self.relay)
                )
            self.bus.changed.notify_all()


@dataclass
class Service:
    """A service schema's event store and outbox on one pool."""

    store: PostgresEventStore
    outbox: PostgresOutbox
    pool: asyncpg.Pool

    async def append(self, stream: str, count: int, version: int = 0) -> list[RecordedEvent]:
        """Append `count` events to `stream` after `version`."""
        events = [
            NewEvent(
                type="a4co.order.created.v1",
                subject="order.created.v1",
                payload=json.dumps({"stream": stream, "n": n}).encode(),
                aggregate_id=stream,
                headers={"correlation-id": f"corr-{stream}"},
            )
            for n in range(count)
        ]
        return await self.store.append(stream, version, events)


def order_created_event() -> NewEvent:
    """One event to append by hand."""
    return NewEvent(
        type="a4co.order.created.v1",
        subject="order.created.v1",
        payload=b'{"n": 0}',
        aggregate_id="order-9",
        headers={"correlation-id": "corr-9"},
    )


@pytest.fixture
async def service(database_url: str, unique_id: str) -> AsyncIterator[Service]:
    """An event store and its outbox in a fresh schema."""
    schema = f"ob_{unique_id}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    try:
        store = PostgresEventStore(pool, schema)
        await store.migrate()
        yield Service(store, PostgresOutbox(pool, schema), pool)
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def test_pending_events_are_published_once_in_order(service: Service) -> None:
    recorded = await service.append("order-1", 3) + await service.append("order-2", 2)
    bus = RecordingBus()
    relay = OutboxRelay(service.outbox, bus.publisher())
    assert await relay.pending_count() == 5

    assert await relay.relay_once() == 5
    assert await relay.relay_once() == 0

    assert bus.message_ids == [str(e.event_id) for e in recorded]
    first = bus.messages[0]
    assert first.subject == "order.created.v1"
    assert json.loads(first.payload) == {"stream": "order-1", "n": 0}
    assert first.headers["ce-id"] == first.message_id
    assert first.headers["ce-type"] == "a4co.order.created.v1"
    assert first.headers["correlation-id"] == "corr-order-1"
    assert await relay.pending_count() == 0


@pytest.mark.parametrize("failing_call", [1, 2])
async def test_a_failing_publisher_leaves_events_pending_until_a_retry(
    service: Service, failing_call: int
) -> None:
    recorded = await service.append("order-1", 3)
    bus = RecordingBus(fail_on={failing_call})
    relay = OutboxRelay(service.outbox, bus.publisher())

    with pytest.raises(OutboxPublishError) as caught:
        await relay.relay_once()

    assert isinstance(caught.value.__cause__, ConnectionError)
    ids = [str(e.event_id) for e in recorded]
    failed = ids[failing_call - 1]
    assert failed not in bus.message_ids and set(ids[: failing_call - 1]) <= set(bus.message_ids)
    assert await relay.pending_count() == 3 - (failing_call - 1), "only those before it marked"
    assert await relay.relay_once() == 3 - (failing_call - 1)
    assert sorted(bus.message_ids) == sorted(ids), "each event on the bus once"
    assert await relay.pending_count() == 0


async def test_two_concurrent_relays_publish_each_event_once(service: Service) -> None:
    recorded = []
    for stream in range(10):
        recorded += await service.append(f"order-{stream}", 5)
    bus = RecordingBus()
    relays = [
        OutboxRelay(service.outbox, bus.publisher(name), batch_size=5, poll_interval=0.05)
        for name in ("a", "b")
    ]

    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await bus.wait_for(len(recorded))
        assert [await relay.relay_once() for relay in relays] == [0, 0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert sorted(bus.message_ids) == sorted(str(e.event_id) for e in recorded)
    assert len(bus.message_ids) == len(recorded)
    assert {m.relay for m in bus.messages} == {"a", "b"}


async def test_an_append_wakes_the_relay_before_the_poll_interval(service: Service) -> None:
    bus = RecordingBus()
    outbox = PostgresOutbox(service.pool, service.store.schema, appends=service.store.appends)
    relay = OutboxRelay(outbox, bus.publisher(), poll_interval=3600)
    task = asyncio.create_task(relay.run())
    try:
        first = await service.append("order-1", 1)
        await bus.wait_for(1)
        # The relay has drained the outbox and sleeps on the hour-long poll: only the
        # store's signal of a committed append can wake it in time.
        second = await service.append("order-1", 1, version=1)
        await bus.wait_for(2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert bus.message_ids == [str(e.event_id) for e in first + second]


async def test_a_rolled_back_append_does_not_wake_the_relay(service: Service) -> None:
    store = service.store
    store.appends.clear()
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.append("order-9", 0, [order_created_event()])
            raise RuntimeError("rolled back")
    assert not store.appends.is_set()
    await service.append("order-9", 1)
    assert store.appends.is_set()


async def test_polling_publishes_what_no_signal_announced(service: Service) -> None:
    bus = RecordingBus()
    relay = OutboxRelay(service.outbox, bus.publisher(), poll_interval=0.05)
    task = asyncio.create_task(relay.run())
    try:
        recorded = await service.append("order-1", 2)
        await bus.wait_for(2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert bus.message_ids == [str(e.event_id) for e in recorded]


class CountingOutbox(PostgresOutbox):
    """A PostgreSQL outbox that counts its claims and can refuse to write marks."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.claims = 0
        self.refuse_marks = False

    def claim(self, limit: int):  # type: ignore[no-untyped-def]
        self.claims += 1
        return super().claim(limit)

    async def mark_published(self, positions: Sequence[int]) -> None:
        if self.refuse_marks:
            raise ConnectionError("PostgreSQL is unavailable")
        await super().mark_published(positions)


def following(service: Service, **relay: Any) -> tuple[CountingOutbox, OutboxRelay, RecordingBus]:
    """A relay handed the store's committed events, with an hour-long poll."""
    outbox = CountingOutbox(
        service.pool,
        service.store.schema,
        appends=service.store.appends,
        committed=service.store.committed,
    )
    bus = RecordingBus(fail_on=relay.pop("fail_on", set()))
    relay.setdefault("poll_interval", 3600)
    return outbox, OutboxRelay(outbox, bus.publisher(), **relay), bus


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (up to WAIT) until `check()` is true."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def test_committed_events_are_published_without_a_claim_and_marked_together(
    service: Service,
) -> None:
    outbox, relay, bus = following(service, mark_delay=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(outbox.claims == 1))  # the first catch-up
        recorded = []
        for version in range(0, 6, 2):
            recorded += await service.append("order-1", 2, version=version)
        await bus.wait_for(len(recorded))
        assert outbox.claims == 1, "followed the hand-off, claimed nothing"
        await eventually(lambda: _zero(relay.pending_count()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert bus.message_ids == [str(e.event_id) for e in recorded]
    assert bus.calls == len(recorded), "each event published once"
    assert json.loads(bus.messages[0].payload) == {"stream": "order-1", "n": 0}
    assert bus.messages[0].headers["ce-type"] == "a4co.order.created.v1"


async def test_a_publish_that_fails_while_following_is_claimed_with_what_follows_in_order(
    service: Service,
) -> None:
    outbox, relay, bus = following(service, fail_on={2}, retry_delay=0.01)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(outbox.claims == 1))
        first = await service.append("order-1", 1)
        await bus.wait_for(1)
        second = await service.append("order-1", 1, version=1)  # refused by the bus
        third = await service.append("order-1", 1, version=2)
        await bus.wait_for(3)
        await eventually(lambda: _zero(relay.pending_count()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert outbox.claims >= 2, "the failure sent the relay back to the table"
    assert bus.message_ids == [str(e.event_id) for e in first + second + third]


async def test_events_dropped_from_a_full_hand_off_are_claimed_in_order(service: Service) -> None:
    service.store.committed = CommittedEvents(limit=2)
    outbox, relay, bus = following(service)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(outbox.claims == 1))
        recorded = await service.append("order-1", 3)  # more than the hand-off holds
        await bus.wait_for(3)
        assert outbox.claims == 2
        recorded += await service.append("order-1", 1, version=3)  # followed again
        await bus.wait_for(4)
        assert outbox.claims == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert bus.message_ids == [str(e.event_id) for e in recorded]


async def test_events_published_but_not_marked_are_published_again_under_the_same_ids(
    service: Service,
) -> None:
    outbox, relay, bus = following(service, mark_delay=0.05)
    outbox.refuse_marks = True
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(outbox.claims == 1))
        recorded = await service.append("order-1", 2)
        await bus.wait_for(2)
    finally:
        task.cancel()  # a crash before the marks could be written
        await asyncio.gather(task, return_exceptions=True)
    assert await relay.pending_count() == 2

    outbox.refuse_marks = False
    assert await OutboxRelay(outbox, bus.publisher("restarted")).relay_once() == 2
    assert bus.calls == 4, "published twice"
    assert bus.message_ids == [str(e.event_id) for e in recorded], "the bus kept one copy"
    assert await relay.pending_count() == 0


def test_the_hand_off_keeps_nothing_until_a_relay_attaches_and_says_when_it_dropped() -> None:
    committed = CommittedEvents(limit=2)
    events = [_recorded(position) for position in range(1, 6)]
    committed.add(events[:1])
    assert committed.take() == []
    committed.attach()
    committed.add(events[:2])
    committed.discard({1})
    assert committed.take() == events[1:2]
    committed.add(events[2:4])
    committed.add(events[4:5])  # a third would exceed the limit: all are dropped
    assert committed.take() is None, "claim the table"
    committed.add(events[4:5])
    assert committed.take() == events[4:5]


def _recorded(position: int) -> RecordedEvent:
    return order_created_event().recorded("order-9", position, position, datetime.now(UTC))


async def _true(value: bool) -> bool:
    return value


async def _zero(count: Awaitable[int]) -> bool:
    return await count == 0
