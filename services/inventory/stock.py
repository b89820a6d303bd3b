"""Inventory's tables and the changes it makes: stock per product, reservations per order.

Each product's stream (`stock-<product_id>`) records StockAdjusted (the full level after a
change) and StockThresholdReached; each order's stream (`reservation-<order_id>`) records
StockReserved, StockReservationFailed and StockReleased. The `stock` and `reservations`
tables are their read models, written in the same transaction; rows are locked
`FOR UPDATE` in product order, so concurrent reservations never oversell. An order's
reservation row is written first (`claim`) and moved on in one statement each (`settle`),
so its lock is always taken before the stock rows'.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from generated.inventory.events import Publisher
from generated.inventory.models import StockAdjusted, StockThresholdReached
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import Statement, checked_schema, connection_of, write_together
from runtime.outbox.sink import StreamSink
from services.inventory.domain import Stock

__all__ = ["Change", "Reservation", "StockTables", "reservation_id_of"]

_NAMESPACE = UUID("0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5")

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.stock (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, on_hand integer NOT NULL,
    reserved integer NOT NULL, threshold integer NOT NULL, version integer NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.reservations (
    order_id uuid PRIMARY KEY, reservation_id uuid NOT NULL, items jsonb NOT NULL,
    state text NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_expiry ON {s}.reservations (expires_at)
    WHERE state = 'held';
"""


def reservation_id_of(order_id: UUID) -> UUID:
    """An order has at most one reservation; its id is derived from the order's."""
    return uuid.uuid5(_NAMESPACE, str(order_id))


class Change(NamedTuple):
    """A product's stock before and after a change, its stream's version before it, and
    the message that caused it (None for a request or a timer)."""

    before: Stock | None
    after: Stock
    version: int
    cause: MessageContext | None


@dataclass(frozen=True, slots=True)
class Reservation:
    """An order's held reservation: the units it holds of each product."""

    order_id: UUID
    items: list[tuple[UUID, int]]


class StockTables:
    """SQL of the stock and reservations read models, and the StockAdjusted they follow,
    in one schema (the service's own, `inventory`)."""

    def __init__(self, schema: str = "inventory") -> None:
        self._s = f'"{checked_schema(schema)}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self._s))

    async def lock(self, tx: Transaction, product_ids: list[UUID]) -> dict[UUID, tuple[Stock, int]]:
        """Lock the products' rows in id order: (stock, its stream version)."""
        rows = await connection_of(tx).fetch(
            f"SELECT * FROM {self._s}.stock WHERE product_id = ANY($1::uuid[])"
            " ORDER BY product_id FOR UPDATE",
            sorted(set(product_ids)),
        )
        return {
            r["product_id"]: (
                Stock(
                    r["product_id"], r["artisan_id"], r["on_hand"], r["threshold"], r["reserved"]
                ),
                r["version"],
            )
            for r in rows
        }

    async def row(self, tx: Transaction, product_id: UUID) -> Any:
        """The product's stock row (not locked)."""
        return await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.stock WHERE product_id = $1", product_id
        )

    async def save(
        self,
        tx: Transaction,
        before: Stock | None,
        after: Stock,
        version: int,
        *,
        now: datetime,
        cause: MessageContext | None,
    ) -> None:
        """Record StockAdjusted (and StockThresholdReached) for a change, and its row."""
        await self.save_all(tx, [Change(before, after, version, cause)], now=now)

    async def save_all(self, tx: Transaction, changes: Sequence[Change], *, now: datetime) -> None:
        """Record each change's StockAdjusted (and StockThresholdReached), and write their
        rows, one product each, in one statement with whatever else the transaction's
        sinks hold back (`write_together`): send a handler's other messages first."""
        rows: list[Statement] = []
        for before, after, version, cause in changes:
            sink = StreamSink(tx, f"stock-{after.product_id}", version)
            publisher = Publisher(sink)
            await publisher.stock_adjusted(
                StockAdjusted(
                    product_id=after.product_id,
                    artisan_id=after.artisan_id,
                    available=after.available,
                    reserved=after.reserved,
                    adjusted_at=now,
                ),
                aggregate_id=str(after.product_id),
                cause=cause,
            )
            if before is not None and after.crossed_threshold(before):
                await publisher.stock_threshold_reached(
                    StockThresholdReached(
                        product_id=after.product_id,
                        artisan_id=after.artisan_id,
                        level=after.available,
                        threshold=after.threshold,
                        reached_at=now,
                    ),
                    aggregate_id=str(after.product_id),
                    cause=cause,
                )
            rows.append(
                Statement(
                    f"INSERT INTO {self._s}.stock VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    " ON CONFLICT (product_id) DO UPDATE SET on_hand = $3, reserved = $4,"
                    " threshold = $5, version = $6, updated_at = $7",
                    (
                        after.product_id,
                        after.artisan_id,
                        after.on_hand,
                        after.reserved,
                        after.threshold,
                        sink.version,
                        now,
                    ),
                )
            )
        if len({row.args[0] for row in rows}) < len(rows):
            raise ValueError("save_all takes one change per product")
        if rows:
            await write_together(tx, rows)

    async def claim(
        self,
        tx: Transaction,
        order_id: UUID,
        items: list[tuple[UUID, int]],
        expires_at: datetime,
    ) -> bool:
        """Record the order's reservation as held, unless it has one (then False).

        One statement that also settles a race: a concurrent claim of the same order waits
        for this transaction and then finds the row."""
        claimed = await connection_of(tx).fetchval(
            f"INSERT INTO {self._s}.reservations VALUES ($1, $2, $3::jsonb, 'held', $4)"
            " ON CONFLICT (order_id) DO NOTHING RETURNING true",
            order_id,
            reservation_id_of(order_id),
            json.dumps([[str(p), q] for p, q in items]),
            expires_at,
        )
        return bool(claimed)

    async def settle(self, tx: Transaction, order_id: UUID, state: str) -> Reservation | None:
        """Move the order's held reservation to `state`: the reservation as it was held, or
        None when none is held (absent, or failed, released or committed already)."""
        settled = await self.settle_all(tx, [order_id], state)
        return settled[0] if settled else None

    async def settle_all(
        self, tx: Transaction, order_ids: list[UUID], state: str
    ) -> list[Reservation]:
        """`settle` for many orders in one statement: the reservations that were held, in
        order id order (absent or settled ones are left out)."""
        rows = await connection_of(tx).fetch(
            f"UPDATE {self._s}.reservations SET state = $2"
            " WHERE order_id = ANY($1::uuid[]) AND state = 'held' RETURNING order_id, items",
            sorted(set(order_ids)),
            state,
        )
        return [
            Reservation(row["order_id"], [(UUID(p), q) for p, q in json.loads(row["items"])])
            for row in sorted(rows, key=lambda r: r["order_id"])
        ]

    async def expired(self, tx: Transaction, now: datetime, limit: int) -> list[UUID]:
        """Held reservations past their expiry, locked and skipped by other sweepers."""
        rows = await connection_of(tx).fetch(
            f"SELECT order_id FROM {self._s}.reservations WHERE state = 'held' AND expires_at <= $1"
            " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
        return [r["order_id"] for r in rows]
