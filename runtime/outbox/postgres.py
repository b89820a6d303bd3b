"""The PostgreSQL outbox: pending rows of a service's `events` table, and append NOTIFYs.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so relays on many replicas share the work;
a dedicated connection LISTENs for the NOTIFY each append sends, and polling covers a lost
listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from runtime.eventstore.base import RecordedEvent
from runtime.eventstore.postgres import EVENT_COLUMNS, checked_schema, outbox_channel, record

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
    """The outbox of one service schema; use `async with` to LISTEN for appends."""

    def __init__(self, pool: Any, schema: str) -> None:
        self._pool = pool
        self._schema = checked_schema(schema)
        self._channel = outbox_channel(schema)
        self._appended = asyncio.Event()
        self._listener: Any = None

    async def __aenter__(self) -> PostgresOutbox:
        await self.listen()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def listen(self) -> None:
        """Hold a pooled connection that LISTENs to the schema's append channel."""
        if self._listener is None:
            self._listener = await self._pool.acquire()
            await self._listener.add_listener(self._channel, self._on_notify)

    async def close(self) -> None:
        """Stop listening and give the connection back to the pool."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.remove_listener(self._channel, self._on_notify)
            finally:
                await self._pool.release(listener)

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

    async def pending_count(self) -> int:
        """How many events wait to be published."""
        count = await self._pool.fetchval(
            f'SELECT count(*) FROM "{self._schema}".events WHERE published_at IS NULL'
        )
        return int(count)

    async def wait_for_append(self, timeout: float) -> bool:
        """Wait for an append's NOTIFY (True) or `timeout` seconds (False)."""
        try:
            await asyncio.wait_for(self._appended.wait(), timeout)
        except TimeoutError:
            return False
        self._appended.clear()
        return True

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        """asyncpg's callback for a NOTIFY on the channel: wake the waiting relay."""
        self._appended.set()
