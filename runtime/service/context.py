"""What a running service hands its handlers and API: store, bus, clock, idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runtime.bus.base import EventSink, MessageContext
from runtime.eventstore.base import EventStore, Transaction
from runtime.service.settings import Settings

__all__ = ["ServiceContext"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """The wiring a service's code may use; built by the host, or by tests."""

    settings: Settings
    store: EventStore
    bus: EventSink
    clock: Callable[[], datetime] = _utcnow
    extras: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    """What the host awaits at stop, newest first: a service's own pools and clients."""

    def on_stop(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Have the host await `close()` when it stops (after consumers and jobs end)."""
        self.closers.append(close)

    @property
    def name(self) -> str:
        """The service's name."""
        return self.settings.service

    def transaction(self) -> Any:
        """A store transaction (events, inbox, the service's own tables)."""
        return self.store.transaction()

    @asynccontextmanager
    async def handling(
        self, context: MessageContext, consumer: str
    ) -> AsyncIterator[Transaction | None]:
        """A transaction for one message, or None when `consumer` already handled it.

        The inbox record commits with the handler's effects, so a redelivered or duplicated
        message is acked and skipped, and a failed handler leaves no record behind.
        """
        async with self.store.transaction() as tx:
            yield None if await tx.seen(context.id, f"{self.name}.{consumer}") else tx
