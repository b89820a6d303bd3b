"""Rows a transaction holds back and inserts in one statement before it commits.

A consumer that takes twenty messages in one unit of work (`ServiceContext.unit_of_work`)
and records a row or two for each wrote twenty to forty statements; a `HeldInsert` writes
them in one, from arrays (`unnest`), when the transaction flushes its buffers: before it
reads events and before it commits. A row that breaks a constraint fails the flush, so the
unit fails as a whole and the consumer falls back to one message per transaction, where
the bad message fails alone. Rows held back are not visible to the transaction's own reads
until then: use it for tables the transaction only writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of

__all__ = ["HeldInsert"]

_TYPE = re.compile(r"[a-z][a-z0-9_ ]*")


class HeldInsert:
    """`INSERT INTO table` of whole rows, one statement per transaction.

    `types` are the PostgreSQL types of the table's columns, in their order.
    """

    def __init__(self, table: str, types: Sequence[str]) -> None:
        wrong = [t for t in types if not _TYPE.fullmatch(t)]
        if wrong or not types:
            raise ValueError(f"column types should be plain type names, not {wrong or types}")
        arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(types, start=1))
        self._sql = f"INSERT INTO {table} SELECT * FROM unnest({arrays})"
        self._width = len(types)
        self._rows: WeakKeyDictionary[Transaction, list[tuple[Any, ...]]] = WeakKeyDictionary()

    def add(self, tx: Transaction, *row: Any) -> None:
        """Hold `row` back until the transaction flushes."""
        if len(row) != self._width:
            raise ValueError(f"a row of {len(row)} values for {self._width} columns")
        rows = self._rows.get(tx)
        if rows is None:
            rows = self._rows[tx] = []
            tx.buffer(partial(self._write, tx))
        rows.append(row)

    async def _write(self, tx: Transaction) -> None:
        rows = self._rows.pop(tx, None)
        if rows:
            await connection_of(tx).execute(self._sql, *(list(c) for c in zip(*rows, strict=True)))
