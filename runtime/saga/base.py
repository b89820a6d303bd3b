"""Saga state and the deadline scanner; the store is a port with a Postgres backend.

A saga's state (its step, data and deadline) is saved in the same transaction as the
messages it sends, so a crash never separates "we moved on" from "we asked for the next
step". A missed deadline is turned into a timeout by `scan_deadlines`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from runtime.eventstore.base import Transaction

__all__ = ["SagaState", "SagaStore", "TimeoutHandler", "scan_deadlines"]


@dataclass(frozen=True, slots=True)
class SagaState:
    """Where one saga is: its step, the data it carries, and when the step times out."""

    saga_id: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None
    version: int = 0
    stream_version: int | None = None
    """The version of the saga's own event stream when read with its lock, if the store
    keeps one (see `PostgresSagaStore`); None when unknown."""

    def move(
        self, step: str, *, now: datetime, timeout: timedelta | None, **data: Any
    ) -> SagaState:
        """The next state: a new step, merged data, and the step's deadline (None when done)."""
        return replace(
            self,
            step=step,
            data={**self.data, **data},
            deadline=now + timeout if timeout is not None else None,
        )


class SagaStore(Protocol):
    """Saga states, read and written inside the caller's transaction."""

    async def get(self, tx: Transaction, saga_id: str, *, lock: bool = True) -> SagaState | None:
        """The saga's state, locked for the transaction's duration when `lock`."""
        ...

    async def put(self, tx: Transaction, state: SagaState) -> SagaState:
        """Insert or update (optimistically, by version); return the stored state."""
        ...

    async def claim_due(self, tx: Transaction, now: datetime, limit: int) -> list[SagaState]:
        """Sagas whose deadline passed, locked; another scanner meanwhile claims none."""
        ...

    async def count_by_step(self, tx: Transaction) -> dict[str, int]:
        """How many sagas are in each step (a metric)."""
        ...

    async def count_overdue(self, tx: Transaction, now: datetime) -> int:
        """How many sagas are past their deadline at `now`, not yet timed out (a metric)."""
        ...


TimeoutHandler = Callable[[Transaction, SagaState], Awaitable[None]]


async def scan_deadlines(
    transaction: Callable[[], AbstractAsyncContextManager[Transaction]],
    store: SagaStore,
    on_timeout: TimeoutHandler,
    *,
    now: datetime,
    limit: int = 100,
) -> int:
    """Run `on_timeout` for every saga past its deadline, each commit with its claim."""
    async with transaction() as tx:
        due = await store.claim_due(tx, now, limit)
        for state in due:
            await on_timeout(tx, state)
    return len(due)
