"""The order service's own tables: the catalogue copy and the orders read model.

The read model is written in the same transaction as the order's events (a synchronous
projection), so a GET right after a POST sees the order; `rebuild` replays it from the
event store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from generated.order.models import Order, OrderPage
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import Statement, connection_of, write_together
from runtime.http import ProblemError
from services.order.domain import CatalogueEntry

__all__ = ["OrderViews", "Versioned"]


class Versioned(Protocol):
    """An event of an order's stream with its version: recorded (`RecordedEvent`) or
    about to be (`runtime.outbox.sink.Upcoming`)."""

    @property
    def version(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".catalogue (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, price_minor bigint NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".orders_view (
    order_id uuid PRIMARY KEY, customer_id uuid NOT NULL, status text NOT NULL,
    items jsonb NOT NULL, total_minor bigint NOT NULL, delivery jsonb NOT NULL,
    cancel_reason text, placed_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    version integer NOT NULL);
CREATE INDEX IF NOT EXISTS orders_view_customer ON "{s}".orders_view
    (customer_id, placed_at DESC, order_id DESC);
"""


class OrderViews:
    """SQL of the catalogue and the orders read model in one schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing."""
        await connection.execute(_DDL.format(s=self.schema))

    async def remember_product(self, tx: Transaction, entry: CatalogueEntry) -> None:
        """Keep (or update) a product's seller and price."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.catalogue VALUES ($1, $2, $3) ON CONFLICT (product_id)"
            " DO UPDATE SET artisan_id = excluded.artisan_id, price_minor = excluded.price_minor",
            entry.product_id,
            entry.artisan_id,
            entry.price_minor,
        )

    async def catalogue(
        self, tx: Transaction, product_ids: list[UUID]
    ) -> dict[UUID, CatalogueEntry]:
        """The known products among `product_ids`."""
        rows = await connection_of(tx).fetch(
            f"SELECT * FROM {self._s}.catalogue WHERE product_id = ANY($1::uuid[])", product_ids
        )
        return {
            r["product_id"]: CatalogueEntry(r["product_id"], r["artisan_id"], r["price_minor"])
            for r in rows
        }

    async def project(self, tx: Transaction, events: Sequence[Versioned]) -> None:
        """Apply an order's new events to its row (with whatever the transaction's sinks
        hold back, in one statement: `write_together`)."""
        if statements := self.statements(events):
            await write_together(tx, statements)

    def statements(self, events: Sequence[Versioned]) -> list[Statement]:
        """The writes that apply `events` to the read model: one per order, its events
        folded (one statement may not write a row twice)."""
        changes: dict[UUID, _Change] = {}
        for event in events:
            kind = event.type.removeprefix("a4co.order.").rsplit(".", 1)[0]
            if kind in _PROJECTED:
                data: dict[str, Any] = json.loads(event.payload)
                change = changes.setdefault(UUID(data["order_id"]), _Change())
                change.apply(kind, data, event.version)
        return [self._write(order_id, change) for order_id, change in changes.items()]

    def _write(self, order_id: UUID, change: _Change) -> Statement:
        if change.created is not None:
            created = change.created
            return Statement(
                f"INSERT INTO {self._s}.orders_view AS v VALUES ($1, $2, $3, $4::jsonb, $5,"
                " $6::jsonb, $7, $8, $9, $10) ON CONFLICT (order_id) DO UPDATE SET"
                " status = excluded.status, updated_at = excluded.updated_at,"
                " version = excluded.version,"
                " cancel_reason = coalesce(excluded.cancel_reason, v.cancel_reason)"
                " WHERE v.version < excluded.version",
                (
                    order_id,
                    UUID(created["customer_id"]),
                    change.status,
                    json.dumps(created["items"]),
                    created["total"]["amount_minor"],
                    json.dumps(created["delivery"]),
                    change.cancel_reason,
                    datetime.fromisoformat(created["placed_at"]),
                    change.updated_at,
                    change.version,
                ),
            )
        # A status moves only forward (a redelivered older event changes nothing); the
        # cancel reason is written whenever one is announced.
        return Statement(
            f"UPDATE {self._s}.orders_view SET"
            " status = CASE WHEN $2::int > version THEN $3::text ELSE status END,"
            " updated_at = CASE WHEN $2::int > version THEN $4::timestamptz ELSE updated_at END,"
            " version = CASE WHEN $2::int > version THEN $2::int ELSE version END,"
            " cancel_reason = coalesce($5::text, cancel_reason)"
            " WHERE order_id = $1",
            (order_id, change.version, change.status, change.updated_at, change.cancel_reason),
        )

    async def rebuild(self, tx: Transaction) -> int:
        """Empty the read model and replay every order stream; return the events applied."""
        connection = connection_of(tx)
        await connection.execute(f"TRUNCATE {self._s}.orders_view")
        rows = await connection.fetch(
            f"SELECT DISTINCT stream_id FROM {self._s}.events WHERE stream_id LIKE 'order-%'"
        )
        applied = 0
        for row in rows:
            events = await tx.load(row["stream_id"])
            await self.project(tx, events)
            applied += len(events)
        return applied

    async def get(self, tx: Transaction, order_id: UUID) -> Order | None:
        """One order from the read model."""
        row = await connection_of(tx).fetchrow(
            f"SELECT * FROM {self._s}.orders_view WHERE order_id = $1", order_id
        )
        return _order(row) if row else None

    async def page(
        self, tx: Transaction, customer_id: UUID, status: str | None, limit: int, cursor: str | None
    ) -> OrderPage:
        """A customer's orders, newest first, `limit` at a time after `cursor`."""
        after_time, after_id = _decode(cursor) if cursor else (None, None)
        rows = await connection_of(tx).fetch(
            f"SELECT * FROM {self._s}.orders_view WHERE customer_id = $1"
            " AND ($2::text IS NULL OR status = $2)"
            " AND ($3::timestamptz IS NULL OR (placed_at, order_id) < ($3, $4))"
            " ORDER BY placed_at DESC, order_id DESC LIMIT $5",
            customer_id,
            status,
            after_time,
            after_id,
            limit + 1,
        )
        items = [_order(r) for r in rows[:limit]]
        more = len(rows) > limit
        return OrderPage(items=items, next_cursor=_encode(items[-1]) if more else None)


_PROJECTED = frozenset({"created", "state_changed", "confirmed", "cancelled"})


@dataclass(slots=True)
class _Change:
    """What a run of one order's events does to its row."""

    created: dict[str, Any] | None = None
    status: str | None = None
    updated_at: datetime | None = None
    version: int | None = None
    cancel_reason: str | None = None

    def apply(self, kind: str, data: dict[str, Any], version: int) -> None:
        if kind == "cancelled":  # no status of its own: OrderStateChanged carries it
            self.cancel_reason = data["reason"]
            return
        if kind == "created":
            self.created = data
            status, moment = "pending", data["placed_at"]
        elif kind == "state_changed":
            status, moment = data["to_status"], data["changed_at"]
        else:  # confirmed, announced alone: no OrderStateChanged goes with it
            status, moment = "confirmed", data["confirmed_at"]
        self.status, self.updated_at = status, datetime.fromisoformat(moment)
        self.version = version


def _order(row: Any) -> Order:
    return Order.model_validate(
        {
            "order_id": row["order_id"],
            "customer_id": row["customer_id"],
            "status": row["status"],
            "items": json.loads(row["items"]),
            "total": {"amount_minor": row["total_minor"], "currency": "EUR"},
            "delivery": json.loads(row["delivery"]),
            **({"cancel_reason": row["cancel_reason"]} if row["cancel_reason"] else {}),
            "placed_at": row["placed_at"],
            "updated_at": row["updated_at"],
        }
    )


def _encode(order: Order) -> str:
    raw = f"{order.placed_at.isoformat()}|{order.order_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        placed, order_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(placed), UUID(order_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "Bad Request", "cursor is not one this API gave") from exc
