"""What a running service hands its handlers and API: store, bus, clock, idempotency."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runtime.bus.base import EventSink, MessageContext, Subscription
from runtime.eventstore.base import EventStore, Transaction
from runtime.service.settings import Settings

__all__ = ["ServiceContext"]

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[Any]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Unit:
    """The unit of work several messages of one consumer share (see `unit_of_work`)."""

    tx: Transaction
    consumer: str
    unseen: set[str]
    after_commit: list[AfterCommit]


_UNIT: ContextVar[_Unit | None] = ContextVar("a4co_unit_of_work", default=None)
_AFTER_COMMIT: ContextVar[list[AfterCommit] | None] = ContextVar("a4co_after_commit", default=None)


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
        message is acked and skipped, and a failed handler leaves no record behind. Inside
        the consumer runner's `unit_of_work` this is the unit's transaction, shared with the
        other messages taken with this one; the handler reads the same either way.
        """
        key = f"{self.name}.{consumer}"
        unit = _UNIT.get()
        if unit is not None:
            if key != unit.consumer:  # a handler recording under another consumer name
                yield None if await unit.tx.seen(context.id, key) else unit.tx
            elif context.id in unit.unseen:
                unit.unseen.discard(context.id)  # a copy later in the same unit is a duplicate
                yield unit.tx
            else:
                yield None
            return
        callbacks: list[AfterCommit] = []
        token = _AFTER_COMMIT.set(callbacks)
        try:
            async with self.store.inbox_transaction(key, [context.id]) as (tx, unseen):
                yield tx if unseen else None
        finally:
            _AFTER_COMMIT.reset(token)
        await _run_after_commit(callbacks)

    def after_commit(self, callback: AfterCommit) -> None:
        """Await `callback()` once the message's transaction has committed (not if it fails).

        For effects outside the database (a live push): inside a unit of work they wait for
        the unit's commit, so a unit that fails and is handled again pushes nothing twice.
        Outside a `handling` block there is no commit to wait for: that is a RuntimeError.
        """
        unit = _UNIT.get()
        pending = unit.after_commit if unit is not None else _AFTER_COMMIT.get()
        if pending is None:
            raise RuntimeError("after_commit() is for use inside a handling() block")
        pending.append(callback)

    @asynccontextmanager
    async def unit_of_work(
        self, subscription: Subscription, contexts: Sequence[MessageContext]
    ) -> AsyncIterator[None]:
        """One transaction for several messages of `subscription` (a `BatchScope`).

        Their inbox rows are written in one statement first; each handler's `handling`
        block then joins this transaction, and everything commits once, at the end.
        """
        consumer = f"{self.name}.{subscription.handler}"
        async with self.store.inbox_transaction(consumer, [c.id for c in contexts]) as (
            tx,
            unseen,
        ):
            unit = _Unit(tx, consumer, unseen, [])
            token = _UNIT.set(unit)
            try:
                yield
            finally:
                _UNIT.reset(token)
        await _run_after_commit(unit.after_commit)


async def _run_after_commit(callbacks: list[AfterCommit]) -> None:
    """Run what waited for a commit; the transaction stands, so a failure is only logged."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # the data is committed; an after-commit effect is best effort
            log.exception("an after-commit callback failed")
