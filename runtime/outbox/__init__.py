"""The transactional outbox: the event store's unpublished events, relayed to the bus.

The backend (`runtime.outbox.postgres`) is imported by the composition root, never here.
"""

from runtime.outbox.relay import (
    Outbox,
    OutboxBatch,
    OutboxError,
    OutboxPublishError,
    OutboxRelay,
    RawMessage,
    RawPublisher,
    bus_headers,
)

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
