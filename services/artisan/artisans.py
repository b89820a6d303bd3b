"""The artisan service's tables: artisans, the deliveries they are judged on, and dashboards.

`artisans` is the state of each artisan (applications carry no event; verification, tier
changes and listings are recorded on the artisan's `artisan-<id>` stream, the outbox, in
the same transaction). `deliveries` holds one row per (artisan, delivered order), the
input of the tier rule. `low_stock` and `earnings` are the artisan's dashboard facts from
inventory and payment. Writers lock the artisan's row first, so they queue in the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.artisan.models import Artisan, ArtisanApplication, PaymentSplitCreated
from runtime.eventstore.base import Transaction
from runtime.eventstore.held import HeldInsert
from runtime.eventstore.postgres import connection_of
from services.artisan.domain import Tier

__all__ = ["ArtisanTables", "LockedArtisan"]

_DDL = """
CREATE TABLE IF NOT EXISTS artisan.artisans (
    artisan_id uuid PRIMARY KEY, user_id uuid NOT NULL UNIQUE, business_name text NOT NULL,
    description text NOT NULL, province text NOT NULL, categories text[] NOT NULL,
    workshop_address jsonb, status text NOT NULL, verification_level text,
    verified_level text, applied_at timestamptz NOT NULL, verified_at timestamptz,
    updated_at timestamptz NOT NULL, evaluated_at timestamptz);
CREATE INDEX IF NOT EXISTS artisans_by_status
    ON artisan.artisans (status, applied_at, artisan_id);
CREATE INDEX IF NOT EXISTS artisans_by_province
    ON artisan.artisans (status, province, applied_at, artisan_id);
CREATE TABLE IF NOT EXISTS artisan.deliveries (
    artisan_id uuid NOT NULL, order_id uuid NOT NULL, delivered_at timestamptz NOT NULL,
    PRIMARY KEY (artisan_id, order_id));
CREATE INDEX IF NOT EXISTS deliveries_by_time ON artisan.deliveries (artisan_id, delivered_at);
CREATE TABLE IF NOT EXISTS artisan.low_stock (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, level integer NOT NULL,
    threshold integer NOT NULL, reached_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS artisan.earnings (
    payment_id uuid NOT NULL, artisan_id uuid NOT NULL, order_id uuid NOT NULL,
    tier text NOT NULL, gross_minor bigint NOT NULL, fee_minor bigint NOT NULL,
    net_minor bigint NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY (payment_id, artisan_id));
"""

_EARNINGS = HeldInsert(
    "artisan.earnings",
    ["uuid", "uuid", "uuid", "text", "bigint", "bigint", "bigint", "timestamptz"],
    skip_existing=True,  # the key (payment, artisan) makes a copy of a split harmless
)

_COLUMNS = (
    "artisan_id, user_id, business_name, description, province, categories,"
    " workshop_address::text AS workshop_address, status, verification_level, applied_at,"
    " verified_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class LockedArtisan:
    """An artisan's row, locked for this transaction, with the level they were verified at."""

    artisan: Artisan
    verified_level: Tier | None


def _artisan(row: Any) -> Artisan:
    values = dict(row)
    address = values.pop("workshop_address")
    values["workshop_address"] = json.loads(address) if address else None
    return Artisan.model_validate({k: v for k, v in values.items() if v is not None})


class ArtisanTables:
    """SQL of the artisan service's tables (schema `artisan`)."""

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL)

    async def insert(
        self, tx: Transaction, artisan_id: UUID, body: ArtisanApplication, now: datetime
    ) -> Artisan | None:
        """Record a pending artisan; None when the user already has one.

        The artisan id is the user's id, so both unique keys name the same artisan; a bare
        ON CONFLICT arbitrates on both, and two applications at once give one artisan
        and one None rather than a unique violation.
        """
        address = body.workshop_address
        row = await connection_of(tx).fetchrow(
            "INSERT INTO artisan.artisans (artisan_id, user_id, business_name, description,"
            " province, categories, workshop_address, status, applied_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'pending', $8, $8)"
            f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            artisan_id,
            body.user_id,
            body.business_name,
            body.description,
            body.province,
            list(body.categories),
            address.model_dump_json(exclude_none=True) if address else None,
            now,
        )
        return _artisan(row) if row else None

    async def get(self, tx: Transaction, artisan_id: UUID) -> Artisan | None:
        """One artisan by id."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS} FROM artisan.artisans WHERE artisan_id = $1", artisan_id
        )
        return _artisan(row) if row else None

    async def lock(self, tx: Transaction, artisan_id: UUID) -> LockedArtisan | None:
        """The artisan's row, locked until the transaction ends."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS}, verified_level FROM artisan.artisans"
            " WHERE artisan_id = $1 FOR UPDATE",
            artisan_id,
        )
        if row is None:
            return None
        values = dict(row)
        verified_level = values.pop("verified_level")
        return LockedArtisan(_artisan(values), verified_level)

    async def verify(
        self, tx: Transaction, artisan_id: UUID, level: Tier, now: datetime
    ) -> Artisan:
        """Make a (locked, pending) artisan active at `level`."""
        row = await connection_of(tx).fetchrow(
            "UPDATE artisan.artisans SET status = 'active', verification_level = $2,"
            " verified_level = $2, verified_at = $3, updated_at = $3, evaluated_at = $3"
            f" WHERE artisan_id = $1 RETURNING {_COLUMNS}",
            artisan_id,
            level,
            now,
        )
        return _artisan(row)

    async def set_tier(
        self, tx: Transaction, artisan_id: UUID, tier: Tier, now: datetime, *, changed: bool
    ) -> None:
        """Store the evaluation's time, and the tier when it changed."""
        await connection_of(tx).execute(
            "UPDATE artisan.artisans SET evaluated_at = $3,"
            " verification_level = CASE WHEN $4 THEN $2 ELSE verification_level END,"
            " updated_at = CASE WHEN $4 THEN $3 ELSE updated_at END WHERE artisan_id = $1",
            artisan_id,
            tier,
            now,
            changed,
        )

    async def page(
        self,
        tx: Transaction,
        *,
        status: str,
        province: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Artisan]:
        """Up to `limit` artisans in `status`, oldest application first, after a position."""
        rows = await connection_of(tx).fetch(
            f"SELECT {_COLUMNS} FROM artisan.artisans WHERE status = $1"
            " AND ($2::text IS NULL OR province = $2)"
            " AND ($3::timestamptz IS NULL OR (applied_at, artisan_id) > ($3, $4::uuid))"
            " ORDER BY applied_at, artisan_id LIMIT $5",
            status,
            province,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [_artisan(r) for r in rows]

    async def active_in(
        self, tx: Transaction, distances: Sequence[tuple[str, int]], limit: int
    ) -> list[tuple[Artisan, int]]:
        """Active artisans of these provinces with their distance, nearest first."""
        rows = await connection_of(tx).fetch(
            f"SELECT {_COLUMNS}, d.km FROM artisan.artisans a"
            " JOIN unnest($1::text[], $2::int[]) AS d(province, km) USING (province)"
            " WHERE a.status = 'active' ORDER BY d.km, a.applied_at, a.artisan_id LIMIT $3",
            [p for p, _ in distances],
            [km for _, km in distances],
            limit,
        )
        return [(_artisan({k: v for k, v in r.items() if k != "km"}), r["km"]) for r in rows]

    async def record_delivery(
        self, tx: Transaction, artisan_id: UUID, order_id: UUID, delivered_at: datetime
    ) -> bool:
        """Count a delivered order for an artisan once; True when it was new."""
        inserted = await connection_of(tx).fetchval(
            "INSERT INTO artisan.deliveries VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            artisan_id,
            order_id,
            delivered_at,
        )
        return bool(inserted)

    async def delivered_since(self, tx: Transaction, artisan_id: UUID, since: datetime) -> int:
        """Orders delivered for the artisan from `since` on."""
        count = await connection_of(tx).fetchval(
            "SELECT count(*) FROM artisan.deliveries WHERE artisan_id = $1 AND delivered_at >= $2",
            artisan_id,
            since,
        )
        return int(count)

    async def promoted_due(self, tx: Transaction, before: datetime, limit: int) -> list[UUID]:
        """Active artisans above their verified level not evaluated since `before`."""
        rows = await connection_of(tx).fetch(
            "SELECT artisan_id FROM artisan.artisans WHERE status = 'active'"
            " AND verification_level IS DISTINCT FROM verified_level AND evaluated_at < $1"
            " ORDER BY evaluated_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            before,
            limit,
        )
        return [r["artisan_id"] for r in rows]

    async def flag_low_stock(
        self,
        tx: Transaction,
        *,
        product_id: UUID,
        artisan_id: UUID,
        level: int,
        threshold: int,
        reached_at: datetime,
    ) -> None:
        """Flag a product as running low, unless a later alert is already stored."""
        await connection_of(tx).execute(
            "INSERT INTO artisan.low_stock AS s VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (product_id) DO UPDATE SET level = $3, threshold = $4, reached_at = $5"
            " WHERE s.reached_at < $5",
            product_id,
            artisan_id,
            level,
            threshold,
            reached_at,
        )

    async def low_stock(self, tx: Transaction, artisan_id: UUID) -> dict[UUID, int]:
        """The artisan's products flagged as running low, with their last level."""
        rows = await connection_of(tx).fetch(
            "SELECT product_id, level FROM artisan.low_stock WHERE artisan_id = $1", artisan_id
        )
        return {r["product_id"]: r["level"] for r in rows}

    async def record_earnings(self, tx: Transaction, split: PaymentSplitCreated) -> None:
        """Store each artisan's share of a payment once: held to the commit, so a unit of
        many splits writes them in one statement (nothing reads them in the meantime)."""
        for s in split.splits:
            _EARNINGS.add(
                tx,
                split.payment_id,
                s.artisan_id,
                split.order_id,
                s.tier,
                s.gross.amount_minor,
                s.marketplace_fee.amount_minor,
                s.net.amount_minor,
                split.created_at,
            )

    async def net_earnings(self, tx: Transaction, artisan_id: UUID) -> int:
        """The artisan's total net earnings in cents."""
        total = await connection_of(tx).fetchval(
            "SELECT coalesce(sum(net_minor), 0) FROM artisan.earnings WHERE artisan_id = $1",
            artisan_id,
        )
        return int(total)
