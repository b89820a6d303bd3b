"""What a transaction holds back and writes in one statement before it commits.

A consumer that takes twenty messages in one unit of work (`ServiceContext.unit_of_work`)
and records a row or two for each wrote twenty to forty statements. `Held` keeps such
writes per transaction and hands them to a writer when the transaction flushes its
buffers (`Transaction.buffer`): before it reads events and before it commits. A write
that breaks a constraint fails the flush, so the unit fails as a whole and the consumer
falls back to one message per transaction, where the bad message fails alone. What is
held is not visible to the transaction's own reads until then: use it for tables the
transaction only writes. `HeldInsert` is the common case, whole rows from arrays.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of

__all__ = ["Held", "HeldInsert"]

T = TypeVar("T")

_TYPE = re.compile(r"[a-z][a-z0-9_ ]*")


class Held(Generic[T]):
    """Per-transaction state (made by `start`), given to `write` when the transaction flushes."""

    def __init__(
        self, start: Callable[[], T], write: Callable[[Transaction, T], Awaitable[None]]
    ) -> None:
        self._start = start
        self._write = write
        self._held: WeakKeyDictionary[Transaction, T] = WeakKeyDictionary()

    def of(self, tx: Transaction) -> T:
        """What `tx` holds so far (new state at first use, or after a flush wrote it)."""
        held = self._held.get(tx)
        if held is None:
            held = self._held[tx] = self._start()
            tx.buffer(partial(self._flush, tx))
        return held

    async def _flush(self, tx: Transaction) -> None:
        held = self._held.pop(tx, None)
        if held is not None:
            await self._write(tx, held)


class HeldInsert:
    """`INSERT INTO table` of whole rows, one statement per transaction.

    `types` are the PostgreSQL types of the table's columns, in their order. `skip_existing`:
    a row whose key is stored already (or held twice) is left out (`ON CONFLICT DO
    NOTHING`) instead of failing the transaction.
    """

    def __init__(self, table: str, types: Sequence[str], *, skip_existing: bool = False) -> None:
        wrong = [t for t in types if not _TYPE.fullmatch(t)]
        if wrong or not types:
            raise ValueError(f"column types should be plain type names, not {wrong or types}")
        arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(types, start=1))
        self._sql = f"INSERT INTO {table} SELECT * FROM unnest({arrays})" + (
            " ON CONFLICT DO NOTHING" if skip_existing else ""
        )
        self._width = len(types)
        self._rows: Held[list[tuple[Any, ...]]] = Held(list, self._write)

    def add(self, tx: Transaction, *row: Any) -> None:
        """Hold `row` back until the transaction flushes."""
        if len(row) != self._width:
            raise ValueError(f"a row of {len(row)} values for {self._width} columns")
        self._rows.of(tx).append(row)

    async def _write(self, tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await connection_of(tx).execute(self._sql, *(list(c) for c in zip(*rows, strict=True)))
