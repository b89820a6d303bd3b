"""An in-memory event store with the PostgreSQL backend's transaction semantics.

A transaction stages its writes and applies them at commit, after checking that no stream
it appended to moved meanwhile; an inbox key is locked until the transaction ends, as a
unique index row is.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from runtime.eventstore.base import (
    Buffers,
    DuplicateEventError,
    EventStore,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    VersionConflictError,
)

if TYPE_CHECKING:
    from runtime.upcasting import Upcasters

__all__ = ["MemoryEventStore", "MemoryTransaction"]


@dataclass
class _State:
    """What the store has committed."""

    events: list[RecordedEvent] = field(default_factory=list)
    streams: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    event_ids: set[object] = field(default_factory=set)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    inbox_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    checkpoints: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    positions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MemoryTransaction(Buffers):
    """A transaction over a `MemoryEventStore`: staged writes, applied by `commit`."""

    def __init__(self, state: _State, upcasters: Upcasters | None = None) -> None:
        super().__init__()
        self._state = state
        self._newest = upcasters.newest if upcasters else None
        self._bases: dict[str, int] = {}
        self._events: list[RecordedEvent] = []
        self._inbox: set[tuple[str, str]] = set()
        self._locks: list[asyncio.Lock] = []
        self._checkpoints: dict[str, int] = {}
        self._snapshots: dict[str, Snapshot] = {}

    async def append(
        self, stream_id: str, expected_version: int | None, events: list[NewEvent]
    ) -> list[RecordedEvent]:
        """Append after `expected_version` (None: at the end) or raise VersionConflictError."""
        committed = len(self._state.streams.get(stream_id, []))
        self._bases.setdefault(stream_id, committed)
        current = committed + sum(1 for e in self._events if e.stream_id == stream_id)
        if expected_version is None:
            expected_version = current
        if expected_version != current:
            raise VersionConflictError(stream_id, expected_version, current)
        staged_ids = {e.event_id for e in self._events}
        recorded = []
        for version, event in enumerate(events, start=expected_version + 1):
            if event.event_id in self._state.event_ids or event.event_id in staged_ids:
                raise DuplicateEventError(event.event_id)
            staged_ids.add(event.event_id)
            recorded.append(
                event.recorded(stream_id, version, next(self._state.positions), datetime.now(UTC))
            )
        self._events.extend(recorded)
        return recorded

    async def append_all(self, appends: Sequence[StreamAppend]) -> list[list[RecordedEvent]]:
        """Each append in turn (a conflict leaves the transaction to be rolled back)."""
        return [await self.append(*part) for part in appends]

    async def load(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, this transaction's included."""
        await self.flush()
        events = self._state.streams.get(stream_id, []) + [
            e for e in self._events if e.stream_id == stream_id
        ]
        return self._read([e for e in events if e.version > after_version])

    async def stream_version(self, stream_id: str) -> int:
        """The stream's version, this transaction's events included."""
        return len(await self.load(stream_id))

    async def read_all(self, after_position: int = 0, limit: int = 100) -> list[RecordedEvent]:
        """Committed and own events after `after_position`, in position order."""
        await self.flush()
        events = sorted(self._state.events + self._events, key=lambda e: e.position)
        return self._read([e for e in events if e.position > after_position][:limit])

    def _read(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """Stored events as their newest version: an older one is upcast, never rewritten."""
        return events if self._newest is None else [self._newest(e) for e in events]

    async def seen(self, message_id: str, consumer: str) -> bool:
        """Record the message; True if it is already recorded (waits for a peer's commit)."""
        key = (consumer, message_id)
        if key in self._inbox:
            return True
        lock = self._state.inbox_locks.setdefault(key, asyncio.Lock())
        await lock.acquire()
        if key in self._state.inbox:
            lock.release()
            return True
        self._locks.append(lock)
        self._inbox.add(key)
        return False

    async def unseen(self, message_ids: Sequence[str], consumer: str) -> set[str]:
        """Record the messages; the ids not recorded before (waits for a peer's commit)."""
        return {m for m in dict.fromkeys(message_ids) if not await self.seen(m, consumer)}

    async def checkpoint(self, name: str) -> int:
        """The projection's position, this transaction's write included."""
        return self._checkpoints.get(name, self._state.checkpoints.get(name, 0))

    async def set_checkpoint(self, name: str, position: int) -> None:
        """Stage the projection's position."""
        self._checkpoints[name] = position

    async def save_snapshot(self, stream_id: str, version: int, state: bytes) -> None:
        """Stage a snapshot; commit keeps it unless a newer one is stored."""
        self._snapshots[stream_id] = Snapshot(stream_id, version, state)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, this transaction's included."""
        return self._snapshots.get(stream_id, self._state.snapshots.get(stream_id))

    def commit(self) -> None:
        """Apply the staged writes, or raise VersionConflictError if a stream moved."""
        for stream_id, base in self._bases.items():
            committed = len(self._state.streams.get(stream_id, []))
            if committed != base:
                raise VersionConflictError(stream_id, base, committed)
        state = self._state
        for event in self._events:
            if event.event_id in state.event_ids:
                raise DuplicateEventError(event.event_id)
        for event in self._events:
            state.streams.setdefault(event.stream_id, []).append(event)
            state.event_ids.add(event.event_id)
            bisect.insort(state.events, event, key=lambda e: e.position)
        state.inbox |= self._inbox
        state.checkpoints.update(self._checkpoints)
        for stream_id, snapshot in self._snapshots.items():
            stored = state.snapshots.get(stream_id)
            if stored is None or stored.version <= snapshot.version:
                state.snapshots[stream_id] = snapshot

    def release(self) -> None:
        """Release the inbox keys this transaction holds."""
        for lock in self._locks:
            lock.release()
        self._locks.clear()


class MemoryEventStore(EventStore):
    """An event store in a dict, for unit tests and the abstract suite."""

    def __init__(self, upcasters: Upcasters | None = None) -> None:
        self._state = _State()
        self._upcasters = upcasters

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        """A transaction committed when the block ends, discarded if it raises."""
        tx = MemoryTransaction(self._state, self._upcasters)
        try:
            yield tx
            await tx.flush()
            tx.commit()
        finally:
            tx.release()
