"""The PostgreSQL outbox: the pending rows of a service's `events` table.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so relays on many replicas share the work.
The store's in-process `appends` signal wakes the relay at once, and its `committed`
hand-off gives it the events themselves, so the relay of a busy service publishes them
without claiming; polling covers appends made by other processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence, Set
from contextlib import asynccontextmanager
from typing import Any

from runtime.eventstore.base import CommittedEvents, RecordedEvent
from runtime.eventstore.postgres import EVENT_COLUMNS, checked_schema, record

__all__ = ["PostgresOutbox", "PostgresOutboxBatch"]


class PostgresOutboxBatch:
    """Claimed rows, marked published and locked by the claim's transaction until it ends."""

    def __init__(self, connection: Any, schema: str, events: list[RecordedEvent]) -> None:
        self._connection = connection
        self._schema = schema
        self._events = events

    @property
    def events(self) -> Sequence[RecordedEvent]:
        """The claimed events, in position order."""
        return self._events

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Keep `published_at` on these rows only, committed with the claim.

        The claim marked every row it took (one statement instead of a select and an
        update); the rows the bus did not take are unmarked again here, which happens
        only when publishing failed.
        """
        kept = set(positions)
        unpublished = [e.position for e in self._events if e.position not in kept]
        if unpublished:
            await self._connection.execute(
                f'UPDATE "{self._schema}".events SET published_at = NULL'
                " WHERE position = any($1::bigint[])",
                unpublished,
            )


class PostgresOutbox:
    """The outbox of one service schema, woken by its store's `appends` signal and handed
    its store's `committed` events."""

    def __init__(
        self,
        pool: Any,
        schema: str,
        *,
        appends: asyncio.Event | None = None,
        committed: CommittedEvents | None = None,
    ) -> None:
        self._pool = pool
        self._schema = checked_schema(schema)
        self._appends = appends
        self._committed = committed
        if committed is not None:
            committed.attach()

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[PostgresOutboxBatch]:
        """Lock and mark up to `limit` pending rows in position order, skipping rows others
        hold; the marks commit when the block ends (rolled back if it raises).

        Three round trips: `BEGIN` with `SET LOCAL` in one simple query, the claiming
        `UPDATE ... RETURNING`, and `COMMIT`. The mark is committed without waiting for the
        WAL flush: if a crash loses it, the events are simply published again with the same
        ids, and the bus drops the copies. That saves an fsync per batch on the hot path.
        """
        async with self._pool.acquire() as conn:
            await conn.execute("BEGIN; SET LOCAL synchronous_commit TO OFF")
            try:
                rows = await conn.fetch(
                    f'UPDATE "{self._schema}".events SET published_at = now()'
                    f' WHERE position IN (SELECT position FROM "{self._schema}".events'
                    " WHERE published_at IS NULL ORDER BY position LIMIT $1"
                    f" FOR UPDATE SKIP LOCKED) RETURNING {EVENT_COLUMNS}",
                    limit,
                )
                events = sorted((record(row) for row in rows), key=lambda e: e.position)
                yield PostgresOutboxBatch(conn, self._schema, events)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    def take_committed(self) -> list[RecordedEvent] | None:
        """The events this process committed since the last take, in commit order; None
        when there is no hand-off or some were dropped (claim the table first)."""
        return None if self._committed is None else self._committed.take()

    def discard_committed(self, positions: Set[int]) -> None:
        """Forget handed events that a claim has just published."""
        if self._committed is not None:
            self._committed.discard(positions)

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Mark these rows published, in one round trip and without waiting for the WAL
        flush (a mark lost in a crash only means the event is published again, and the
        bus drops the copy). One simple query of two statements, which PostgreSQL runs as
        one implicit transaction (so `SET LOCAL` holds, and an error leaves no transaction
        open); the positions are therefore written as literals, each an `int`."""
        if not positions:
            return
        literal = ",".join(str(int(position)) for position in positions)
        await self._pool.execute(
            "SET LOCAL synchronous_commit TO OFF;"
            f' UPDATE "{self._schema}".events SET published_at = now()'
            f" WHERE position = any('{{{literal}}}'::bigint[]) AND published_at IS NULL"
        )

    async def pending_count(self) -> int:
        """How many events wait to be published."""
        count = await self._pool.fetchval(
            f'SELECT count(*) FROM "{self._schema}".events WHERE published_at IS NULL'
        )
        return int(count)

    async def wait_for_append(self, timeout: float) -> bool:
        """Wait for an append in this process (True) or `timeout` seconds (False)."""
        if self._appends is None:
            await asyncio.sleep(timeout)
            return False
        try:
            await asyncio.wait_for(self._appends.wait(), timeout)
        except TimeoutError:
            return False
        self._appends.clear()
        return True
