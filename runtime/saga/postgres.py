"""Saga states in PostgreSQL, in the service's schema next to its events."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from runtime.errors import ConcurrencyError
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import (
    Statement,
    checked_schema,
    connection_of,
    write_together,
)
from runtime.saga.base import SagaState

__all__ = ["PostgresSagaStore"]


class PostgresSagaStore:
    """The `sagas` table of one schema.

    `stream_prefix`: each saga has an event stream of its own in the schema's event store,
    `stream_prefix + saga_id`; a state read with its lock (`get`, `claim_due`) then carries
    that stream's version (`SagaState.stream_version`), read in the same statement, so the
    saga appends at a known version and can write what depends on it (a read model) in the
    statement that appends (`write_together`). It is exact while every append to the
    stream holds the saga's lock, as the order saga's do.
    """

    def __init__(self, schema: str, *, stream_prefix: str | None = None) -> None:
        self._table = f'"{checked_schema(schema)}".sagas'
        self._scan_lock = f"a4co.saga.{schema}.scan"
        self._columns = (
            "s.*"
            if stream_prefix is None
            else f's.*, (SELECT coalesce(max(version), 0) FROM "{schema}".events'
            f" WHERE stream_id = {_literal(stream_prefix)} || s.saga_id) AS stream_version"
        )

    async def migrate(self, connection: Any) -> None:
        """Create the table and its deadline index if they are missing."""
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            " saga_id text PRIMARY KEY, step text NOT NULL, data jsonb NOT NULL,"
            " deadline timestamptz, version integer NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
        await connection.execute(
            f"CREATE INDEX IF NOT EXISTS sagas_deadline ON {self._table} (deadline)"
            " WHERE deadline IS NOT NULL"
        )

    async def get(self, tx: Transaction, saga_id: str, *, lock: bool = True) -> SagaState | None:
        """The saga's state, `FOR UPDATE` when `lock`."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {self._columns} FROM {self._table} AS s WHERE saga_id = $1"
            + (" FOR UPDATE OF s" if lock else ""),
            saga_id,
        )
        return _state(row) if row else None

    async def put(
        self, tx: Transaction, state: SagaState, *, along: Sequence[Statement] = ()
    ) -> SagaState:
        """Insert a new saga (version 0) or update the stored one at `state.version`.

        `along`: writes of the same step to other tables (a read model), sent in the same
        statement (`write_together`): one round trip instead of one each.
        """
        data = json.dumps(state.data, sort_keys=True, default=str)
        if state.version == 0:
            write = Statement(
                f"INSERT INTO {self._table} (saga_id, step, data, deadline, version)"
                " VALUES ($1, $2, $3::jsonb, $4, 1) ON CONFLICT DO NOTHING RETURNING version",
                (state.saga_id, state.step, data, state.deadline),
            )
        else:
            write = Statement(
                f"UPDATE {self._table} SET step = $2, data = $3::jsonb, deadline = $4,"
                " version = version + 1, updated_at = now()"
                " WHERE saga_id = $1 AND version = $5 RETURNING version",
                (state.saga_id, state.step, data, state.deadline, state.version),
            )
        written, *_ = await write_together(tx, [write, *along])
        if written is None:
            raise ConcurrencyError(
                f"saga {state.saga_id} already exists"
                if state.version == 0
                else f"saga {state.saga_id} changed since version {state.version}"
            )
        return SagaState(state.saga_id, state.step, state.data, state.deadline, state.version + 1)

    async def claim_due(self, tx: Transaction, now: datetime, limit: int) -> list[SagaState]:
        """Sagas past their deadline, `FOR UPDATE SKIP LOCKED`; none while another scans.

        Replicas of a service each run the scanner: the transaction-scoped advisory lock
        lets one of them sweep at a time (the others find nothing until it commits), and
        the row locks keep a saga a handler is moving out of the sweep.
        """
        connection = connection_of(tx)
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtext($1))", self._scan_lock
        ):
            return []
        rows = await connection.fetch(
            f"SELECT {self._columns} FROM {self._table} AS s"
            " WHERE deadline IS NOT NULL AND deadline <= $1"
            " ORDER BY deadline LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
            now,
            limit,
        )
        return [_state(r) for r in rows]

    async def count_overdue(self, tx: Transaction, now: datetime) -> int:
        """How many sagas are past their deadline at `now` (the deadline index answers it)."""
        return int(
            await connection_of(tx).fetchval(
                f"SELECT count(*) FROM {self._table} WHERE deadline IS NOT NULL AND deadline <= $1",
                now,
            )
        )

    async def count_by_step(self, tx: Transaction) -> dict[str, int]:
        """How many sagas are in each step."""
        rows = await connection_of(tx).fetch(
            f"SELECT step, count(*) AS n FROM {self._table} GROUP BY step"
        )
        return {r["step"]: r["n"] for r in rows}


def _state(row: Any) -> SagaState:
    return SagaState(
        row["saga_id"],
        row["step"],
        json.loads(row["data"]),
        row["deadline"],
        row["version"],
        row.get("stream_version"),
    )


_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,50}")


def _literal(prefix: str) -> str:
    """A stream prefix as an SQL literal; only plain characters are taken, so nothing
    needs escaping."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"a stream prefix should be 1-50 letters, digits, '_', '.', ':' or '-', not"
            f" {prefix!r} (no quote, backslash, space, NUL or control character)"
        )
    return f"'{prefix}'"
