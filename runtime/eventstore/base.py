"""Ports of the event store: records, the transaction a handler works in, and errors.

PlatformError
 ├── ContractError            a new event whose payload is not JSON
 ├── ConcurrencyError
 │    └── VersionConflictError   an append whose expected version is not the stream's
 └── EventStoreError
      ├── DuplicateEventError    an event id that is already recorded
      └── StoreUnavailableError  the database is unreachable or cut the connection

A backend implements `Transaction` and `EventStore.transaction()`; every other operation
of `EventStore` opens its own transaction. No driver is imported here.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, TypeVar

from runtime.errors import ConcurrencyError, ContractError, PlatformError

__all__ = [
    "Buffers",
    "CommittedEvents",
    "DuplicateEventError",
    "EventStore",
    "EventStoreError",
    "Flush",
    "HeldAppends",
    "NewEvent",
    "RecordedEvent",
    "Snapshot",
    "StoreUnavailableError",
    "StreamAppend",
    "Transaction",
    "VersionConflictError",
    "retrying",
]

T = TypeVar("T")


class EventStoreError(PlatformError):
    """Base of the event store's own errors."""


class DuplicateEventError(EventStoreError):
    """An appended event carries an event id that is already recorded."""

    def __init__(self, event_id: uuid.UUID) -> None:
        super().__init__(f"event {event_id} is already recorded")
        self.event_id = event_id


class StoreUnavailableError(EventStoreError):
    """The database could not be reached, or cut the connection mid-transaction (a restart,
    a failover): the same work may pass on a retry. Only a cut during the commit itself
    leaves unknown whether the transaction committed."""


class VersionConflictError(ConcurrencyError):
    """A stream's version is not the one the append expected (someone appended first)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        found = "a newer version" if actual is None else f"version {actual}"
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, but the store has {found}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: CloudEvents type, bus subject, JSON payload and headers."""

    type: str
    subject: str
    payload: bytes
    aggregate_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def recorded(
        self, stream_id: str, version: int, position: int, recorded_at: datetime
    ) -> RecordedEvent:
        """This event as the store recorded it."""
        return RecordedEvent(
            position=position,
            stream_id=stream_id,
            version=version,
            event_id=self.event_id,
            type=self.type,
            subject=self.subject,
            payload=self.payload,
            aggregate_id=self.aggregate_id,
            headers=dict(self.headers),
            recorded_at=recorded_at,
        )

    def __post_init__(self) -> None:
        try:  # fail at the caller, not later in the jsonb column
            json.loads(self.payload)
        except ValueError as exc:
            raise ContractError(
                f"the payload of event {self.event_id} ({self.type}) is not JSON"
            ) from exc


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its stream version and its global position."""

    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    subject: str
    payload: bytes
    aggregate_id: str
    headers: Mapping[str, str]
    recorded_at: datetime

    def json(self) -> object:
        """The payload, parsed (a backend may normalise its bytes, never its value)."""
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state at a stream version, to load only the events after it."""

    stream_id: str
    version: int
    state: bytes


class StreamAppend(NamedTuple):
    """One stream's part of `Transaction.append_all`: `append`'s arguments."""

    stream_id: str
    expected_version: int | None
    events: list[NewEvent]


Flush = Callable[[], Awaitable[object]]
"""Writes a buffer holds back (see `Transaction.buffer`), written when awaited."""


class HeldAppends(Protocol):
    """Appends that a transaction's writers hold back (the sinks of `runtime.outbox.sink`),
    for a store that can write them in the statement of other writes."""

    def take(self) -> tuple[list[StreamAppend], Callable[[list[list[RecordedEvent]]], None]]:
        """What is held back, no longer held once taken, and where to hand what each
        append recorded (in the order taken) once it is written."""
        ...


class Buffers:
    """The writes a transaction holds back; each store's transaction awaits `flush()` before
    it reads events and before it commits (see `Transaction.buffer`)."""

    def __init__(self) -> None:
        self._buffers: list[Flush] = []
        self.held_appends: HeldAppends | None = None
        """Set by the writer that holds appends back; a store may write them with other
        writes (`runtime.eventstore.postgres.write_together`) instead of on their own."""

    def buffer(self, flush: Flush) -> None:
        """Await `flush()` before this transaction reads events and before it commits."""
        self._buffers.append(flush)

    async def flush(self) -> None:
        """Write what the buffers hold back (the store calls it before the commit)."""
        for flush in self._buffers:
            await flush()


class CommittedEvents:
    """The events this process's transactions committed, in commit order, for its relay.

    The store adds what each transaction appended once it has committed; the outbox relay
    takes them and publishes them at once, without reading them back from the database.
    Nothing is kept until a relay `attach`es. It is only a shortcut: every event is also in
    the events table, so whatever the relay cannot take from here (it was not attached yet,
    or more than `limit` events waited) it claims there. `take` returns None once events
    were dropped: the relay must then claim from the table before it takes again, or an
    aggregate's later event could be published before an earlier one.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._events: list[RecordedEvent] = []
        self._attached = False
        self._dropped = False

    def attach(self) -> None:
        """Keep committed events from now on (the relay calls it)."""
        self._attached = True

    def add(self, events: Sequence[RecordedEvent]) -> None:
        """Hand over what one committed transaction appended."""
        if not self._attached or self._dropped:
            return
        if len(self._events) + len(events) > self._limit:
            self._events.clear()
            self._dropped = True
            return
        self._events.extend(events)

    def take(self) -> list[RecordedEvent] | None:
        """Everything handed over since the last take; None if some were dropped since."""
        if self._dropped:
            self._dropped = False
            return None
        events, self._events = self._events, []
        return events

    def discard(self, positions: Set[int]) -> None:
        """Forget the events at these positions (a claim on the table published them)."""
        if positions:
            self._events = [e for e in self._events if e.position not in positions]


class Transaction(Protocol):
    """One database transaction: appends, inbox records and checkpoints commit together."""

    async def append(
        self, stream_id: str, expected_version: int | None, events: list[NewEvent]
    ) -> list[RecordedEvent]:
        """Append after `expected_version` (0 for a new stream) or raise VersionConflictError.

        `None` appends at the stream's end, whatever its version, in the same statement: a
        concurrent append to the stream still makes one of the two fail with
        VersionConflictError (retry the transaction), and no version is looked up first.
        """
        ...

    async def append_all(self, appends: Sequence[StreamAppend]) -> list[list[RecordedEvent]]:
        """Several `append`s at once (one statement where the store can): what each
        recorded, in the order given; a conflict on any stream raises as `append` does."""
        ...

    def buffer(self, flush: Flush) -> None:
        """Have `flush()` awaited before this transaction reads events (`load`,
        `stream_version`, `read_all`) and before it commits, so appends held back to be
        written together are never missed by a read of the same transaction."""
        ...

    held_appends: HeldAppends | None
    """Appends a writer holds back (set by it), which a store may write together with
    other writes."""

    async def load(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, oldest first."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        ...

    async def read_all(self, after_position: int = 0, limit: int = 100) -> list[RecordedEvent]:
        """Up to `limit` events of every stream after `after_position`, in position order."""
        ...

    async def seen(self, message_id: str, consumer: str) -> bool:
        """Record the message in the inbox; True if `consumer` already processed it."""
        ...

    async def unseen(self, message_ids: Sequence[str], consumer: str) -> set[str]:
        """Record the messages in the inbox at once; the ids `consumer` had not processed."""
        ...

    async def checkpoint(self, name: str) -> int:
        """The projection's last processed position (0 if it never ran)."""
        ...

    async def set_checkpoint(self, name: str, position: int) -> None:
        """Store the projection's position, committed with its read-model write."""
        ...

    async def save_snapshot(self, stream_id: str, version: int, state: bytes) -> None:
        """Keep `state` as the stream's snapshot unless a newer one is stored."""
        ...

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, if any."""
        ...


class EventStore(ABC):
    """An event store; each shortcut below runs in a transaction of its own."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction committed when the block ends, rolled back if it raises."""

    @asynccontextmanager
    async def inbox_transaction(
        self, consumer: str, message_ids: Sequence[str]
    ) -> AsyncIterator[tuple[Transaction, set[str]]]:
        """A transaction that begins by recording the messages in `consumer`'s inbox
        (`Transaction.unseen`): it and the ids `consumer` had not processed. A backend may
        do both in one round trip."""
        async with self.transaction() as tx:
            yield tx, await tx.unseen(message_ids, consumer)

    async def append(
        self, stream_id: str, expected_version: int | None, events: list[NewEvent]
    ) -> list[RecordedEvent]:
        """Append in a transaction of its own; see `Transaction.append`."""
        async with self.transaction() as tx:
            return await tx.append(stream_id, expected_version, events)

    async def load(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, oldest first."""
        async with self.transaction() as tx:
            return await tx.load(stream_id, after_version)

    async def read_all(self, after_position: int = 0, limit: int = 100) -> list[RecordedEvent]:
        """Up to `limit` events after `after_position`, in position order.

        Positions come from a sequence, so concurrent appends may commit out of position
        order: a reader that follows live appends should use the bus, not this.
        """
        async with self.transaction() as tx:
            return await tx.read_all(after_position, limit)

    async def save_snapshot(self, stream_id: str, version: int, state: bytes) -> None:
        """Keep `state` as the stream's snapshot at `version`."""
        async with self.transaction() as tx:
            await tx.save_snapshot(stream_id, version, state)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, if any."""
        async with self.transaction() as tx:
            return await tx.load_snapshot(stream_id)

    async def checkpoint(self, name: str) -> int:
        """The projection's last processed position (0 if it never ran)."""
        async with self.transaction() as tx:
            return await tx.checkpoint(name)

    async def rebuild(
        self, name: str, truncate: Callable[[Transaction], Awaitable[None]] | None = None
    ) -> None:
        """Reset the projection's checkpoint to 0, after `truncate` empties its read model."""
        async with self.transaction() as tx:
            if truncate is not None:
                await truncate(tx)
            await tx.set_checkpoint(name, 0)


async def retrying(
    command: Callable[[], Awaitable[T]], attempts: int = 5, *, delay: float = 0.005
) -> T:
    """Run `command` (which reloads its aggregate) again after a ConcurrencyError.

    Waits a random time up to `delay` times the attempt number between attempts, so
    contenders spread out; the last attempt's error is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await command()
        except ConcurrencyError:
            if attempt == attempts:
                raise
        await asyncio.sleep(random.uniform(0, delay * attempt))
    raise ValueError(f"attempts should be at least 1, not {attempts}")
