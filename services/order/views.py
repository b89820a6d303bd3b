"""The order service's own tables: the catalogue copy and the orders read model.

The read model is written in the same transaction as the order's events (a synchronous
projection), so a GET right after a POST sees the order; `rebuild` replays it from the
event store.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.order.models import Order, OrderPage
from runtime.eventstore.base import RecordedEvent, Transaction
from runtime.eventstore.postgres import connection_of
from runtime.http import ProblemError
from services.order.domain import CatalogueEntry

__all__ = ["OrderViews"]

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

    async def project(self, tx: Transaction, events: list[RecordedEvent]) -> None:
        """Apply an order's newly recorded events to its row."""
        for event in events:
            await self._apply(tx, event)

    async def _apply(self, tx: Transaction, event: RecordedEvent) -> None:
        data: dict[str, Any] = json.loads(event.payload)
        kind = event.type.removeprefix("a4co.order.").rsplit(".", 1)[0]
        connection = connection_of(tx)
        if kind == "created":
            await connection.execute(
                f"INSERT INTO {self._s}.orders_view VALUES ($1, $2, 'pending', $3::jsonb, $4,"
                " $5::jsonb, NULL, $6, $6, $7) ON CONFLICT (order_id) DO NOTHING",
                UUID(data["order_id"]),
                UUID(data["customer_id"]),
                json.dumps(data["items"]),
                data["total"]["amount_minor"],
                json.dumps(data["delivery"]),
                datetime.fromisoformat(data["placed_at"]),
                event.version,
            )
        elif kind == "state_changed":
            await connection.execute(
                f"UPDATE {self._s}.orders_view SET status = $2, updated_at = $3, version = $4"
                " WHERE order_id = $1 AND version < $4",
                UUID(data["order_id"]),
                data["to_status"],
                datetime.fromisoformat(data["changed_at"]),
                event.version,
            )
        elif kind == "confirmed":  # announced alone: no OrderStateChanged goes with it
            await connection.execute(
                f"UPDATE {self._s}.orders_view SET status = 'confirmed', updated_at = $2,"
                " version = $3 WHERE order_id = $1 AND version < $3",
                UUID(data["order_id"]),
                datetime.fromisoformat(data["confirmed_at"]),
                event.version,
            )
        elif kind == "cancelled":
            await connection.execute(
                f"UPDATE {self._s}.orders_view SET cancel_reason = $2 WHERE order_id = $1",
                UUID(data["order_id"]),
                data["reason"],
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
