"""The shipping service's tables and the write side of a shipment.

`shipments` is the read model of each `shipment-<id>` stream, written in the same
transaction as the stream's events (ShipmentCreated, -Dispatched, -Delivered), which the
outbox then publishes. It keeps the order's customer (who may track it) and the artisans
of the order's items (who may act on it). `artisans` maps an artisan to their user
account, from ArtisanVerified, because tokens name users, not artisans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from generated.shipping.events import Publisher
from generated.shipping.models import Delivery, Shipment
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from runtime.outbox.sink import StreamSink

__all__ = ["LockedShipment", "ShipmentTables", "stream_of"]

_DDL = """
CREATE SEQUENCE IF NOT EXISTS "{s}".tracking_numbers;
CREATE TABLE IF NOT EXISTS "{s}".shipments (
    shipment_id uuid PRIMARY KEY, order_id uuid NOT NULL UNIQUE, customer_id uuid NOT NULL,
    artisan_ids uuid[] NOT NULL, status text NOT NULL, tracking_code text NOT NULL,
    delivery jsonb NOT NULL, carrier text, created_at timestamptz NOT NULL,
    dispatched_at timestamptz, delivered_at timestamptz, version integer NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".artisans (artisan_id uuid PRIMARY KEY, user_id uuid NOT NULL);
"""

_COLUMNS = (
    "shipment_id, order_id, customer_id, status, tracking_code, delivery, carrier,"
    " created_at, dispatched_at, delivered_at"
)


def stream_of(shipment_id: UUID) -> str:
    """The event stream of one shipment."""
    return f"shipment-{shipment_id}"


@dataclass(frozen=True, slots=True)
class LockedShipment:
    """A shipment's row, locked for this transaction, with its stream version."""

    shipment: Shipment
    artisan_ids: tuple[UUID, ...]
    version: int


class ShipmentTables:
    """SQL of the shipping service's tables in one schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the sequence and tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL.format(s=self.schema))

    def publisher(
        self, tx: Transaction, shipment_id: UUID, version: int
    ) -> tuple[Publisher, StreamSink]:
        """A publisher appending to the shipment's stream after `version`."""
        sink = StreamSink(tx, stream_of(shipment_id), version)
        return Publisher(sink), sink

    async def next_sequence(self, tx: Transaction, order_id: UUID) -> int | None:
        """The next tracking number for the order's shipment, or None when the order has
        its shipment already (one statement: no number is taken then)."""
        found = await connection_of(tx).fetchval(
            f"SELECT nextval('{self._s}.tracking_numbers') WHERE NOT EXISTS"
            f" (SELECT FROM {self._s}.shipments WHERE order_id = $1)",
            order_id,
        )
        return None if found is None else int(found)

    async def insert(
        self, tx: Transaction, shipment: Shipment, artisan_ids: list[UUID], version: int
    ) -> None:
        """Store a new shipment at its stream's `version`."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.shipments (shipment_id, order_id, customer_id, artisan_ids,"
            " status, tracking_code, delivery, created_at, version)"
            " VALUES ($1, $2, $3, $4, 'created', $5, $6::jsonb, $7, $8)",
            shipment.shipment_id,
            shipment.order_id,
            shipment.customer_id,
            artisan_ids,
            shipment.tracking_code,
            shipment.delivery.model_dump_json(exclude_none=True),
            shipment.created_at,
            version,
        )

    async def update(self, tx: Transaction, shipment: Shipment, version: int) -> None:
        """Store a shipment's new status, carrier and times at its stream's `version`."""
        await connection_of(tx).execute(
            f"UPDATE {self._s}.shipments SET status = $2, carrier = $3, dispatched_at = $4,"
            " delivered_at = $5, version = $6 WHERE shipment_id = $1",
            shipment.shipment_id,
            shipment.status,
            shipment.carrier,
            shipment.dispatched_at,
            shipment.delivered_at,
            version,
        )

    async def get(self, tx: Transaction, shipment_id: UUID) -> LockedShipment | None:
        """One shipment (not locked)."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS}, artisan_ids, version FROM {self._s}.shipments"
            " WHERE shipment_id = $1",
            shipment_id,
        )
        return _locked(row) if row else None

    async def lock(self, tx: Transaction, shipment_id: UUID) -> LockedShipment | None:
        """One shipment, locked until the transaction ends (carrier notices queue here)."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS}, artisan_ids, version FROM {self._s}.shipments"
            " WHERE shipment_id = $1 FOR UPDATE",
            shipment_id,
        )
        return _locked(row) if row else None

    async def of_order(self, tx: Transaction, order_id: UUID) -> list[LockedShipment]:
        """The order's shipments (at most one)."""
        rows = await connection_of(tx).fetch(
            f"SELECT {_COLUMNS}, artisan_ids, version FROM {self._s}.shipments WHERE order_id = $1",
            order_id,
        )
        return [_locked(r) for r in rows]

    async def remember_artisan(self, tx: Transaction, artisan_id: UUID, user_id: UUID) -> None:
        """Keep which user account an artisan is."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.artisans VALUES ($1, $2)"
            " ON CONFLICT (artisan_id) DO UPDATE SET user_id = excluded.user_id",
            artisan_id,
            user_id,
        )

    async def artisans_of_user(self, tx: Transaction, user_id: UUID) -> set[UUID]:
        """The artisans a user account is (normally one)."""
        rows = await connection_of(tx).fetch(
            f"SELECT artisan_id FROM {self._s}.artisans WHERE user_id = $1", user_id
        )
        return {r["artisan_id"] for r in rows}


def _locked(row: Any) -> LockedShipment:
    values = dict(row)
    artisan_ids = tuple(values.pop("artisan_ids"))
    version = values.pop("version")
    values["delivery"] = Delivery.model_validate(json.loads(values["delivery"]))
    clean = {k: v for k, v in values.items() if v is not None}
    return LockedShipment(Shipment.model_validate(clean), artisan_ids, version)
