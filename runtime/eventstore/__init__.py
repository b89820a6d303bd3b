"""The event store: streams with optimistic concurrency, snapshots, inbox and checkpoints.

Backends: `runtime.eventstore.memory` (a fake) and `runtime.eventstore.postgres` (asyncpg),
imported by the composition root, never here.
"""

from runtime.eventstore.base import (
    DuplicateEventError,
    EventStore,
    EventStoreError,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StoreUnavailableError,
    StreamAppend,
    Transaction,
    VersionConflictError,
    retrying,
)

__all__ = [
    "DuplicateEventError",
    "EventStore",
    "EventStoreError",
    "NewEvent",
    "RecordedEvent",
    "Snapshot",
    "StoreUnavailableError",
    "StreamAppend",
    "Transaction",
    "VersionConflictError",
    "retrying",
]
