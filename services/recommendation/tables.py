"""The recommendation service's tables: the recent catalogue and what it knows of each user.

`catalogue` keeps the newest `CATALOGUE_PER_CATEGORY` products of each category (from
NewProductListed); `listing` the catalogue service's latest stock and listing state of a
product, whichever of the two events arrives first. Only a product with a `listing` row is
recommended: the product service announces a product once it shows it (its artisan is
verified), so a product nobody can open is never recommended. `affinities`, `bought` and
`popularity` add up behaviour (made idempotent by the handlers' inbox); `segments` keeps
each user's latest segment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from services.recommendation.domain import Candidate, Profile

__all__ = ["CATALOGUE_PER_CATEGORY", "RecommendationTables"]

CATALOGUE_PER_CATEGORY = 50

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".catalogue (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, category text NOT NULL,
    listed_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS catalogue_category_idx ON "{s}".catalogue (category, listed_at);
CREATE TABLE IF NOT EXISTS "{s}".listing (
    product_id uuid PRIMARY KEY, available integer, delisted boolean NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".popularity (
    product_id uuid PRIMARY KEY, score bigint NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".affinities (
    user_id uuid NOT NULL, category text NOT NULL, weight bigint NOT NULL,
    PRIMARY KEY (user_id, category));
CREATE TABLE IF NOT EXISTS "{s}".bought (
    user_id uuid NOT NULL, product_id uuid NOT NULL, PRIMARY KEY (user_id, product_id));
CREATE TABLE IF NOT EXISTS "{s}".segments (
    user_id uuid PRIMARY KEY, segment text NOT NULL, changed_at timestamptz NOT NULL);
"""


class RecommendationTables:
    """SQL of the recommendation schema; every method runs in the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL.format(s=self.schema))

    async def _execute(self, tx: Transaction, sql: str, *args: Any) -> None:
        await connection_of(tx).execute(sql.format(s=self._s), *args)

    async def listed(
        self, tx: Transaction, product_id: UUID, artisan_id: UUID, category: str, at: datetime
    ) -> None:
        """Add the product to its category and drop that category's oldest beyond the cap."""
        await self._execute(
            tx,
            "INSERT INTO {s}.catalogue VALUES ($1, $2, $3, $4) ON CONFLICT (product_id)"
            " DO UPDATE SET category = excluded.category, listed_at = excluded.listed_at",
            product_id,
            artisan_id,
            category,
            at,
        )
        await self._execute(
            tx,
            "DELETE FROM {s}.catalogue WHERE product_id IN (SELECT product_id"
            " FROM {s}.catalogue WHERE category = $1"
            " ORDER BY listed_at DESC, product_id DESC OFFSET $2)",
            category,
            CATALOGUE_PER_CATEGORY,
        )

    async def listing_changed(
        self,
        tx: Transaction,
        product_id: UUID,
        *,
        available: int | None,
        delisted: bool | None,
        at: datetime,
    ) -> None:
        """Keep the latest stock and listing state of the product (None: unchanged)."""
        await self._execute(
            tx,
            "INSERT INTO {s}.listing AS l VALUES ($1, $2, coalesce($3::boolean, false), $4)"
            " ON CONFLICT (product_id) DO UPDATE SET"
            " available = coalesce(excluded.available, l.available),"
            " delisted = coalesce($3::boolean, l.delisted), updated_at = excluded.updated_at"
            " WHERE l.updated_at < excluded.updated_at",
            product_id,
            available,
            delisted,
            at,
        )

    async def acted(
        self,
        tx: Transaction,
        user_id: UUID,
        *,
        weight: int,
        category: str | None,
        product_id: UUID | None,
        bought: bool,
    ) -> None:
        """Add one action's weight to the user's category and to the product's popularity."""
        if category is not None:
            await self._execute(
                tx,
                "INSERT INTO {s}.affinities AS a VALUES ($1, $2, $3)"
                " ON CONFLICT (user_id, category) DO UPDATE SET weight = a.weight + $3",
                user_id,
                category,
                weight,
            )
        if product_id is None:
            return
        await self._execute(
            tx,
            "INSERT INTO {s}.popularity AS p VALUES ($1, $2)"
            " ON CONFLICT (product_id) DO UPDATE SET score = p.score + $2",
            product_id,
            weight,
        )
        if bought:
            await self._execute(
                tx,
                "INSERT INTO {s}.bought VALUES ($1, $2) ON CONFLICT DO NOTHING",
                user_id,
                product_id,
            )

    async def segmented(self, tx: Transaction, user_id: UUID, segment: str, at: datetime) -> None:
        """Keep the user's segment as of `at`, unless a later one is stored."""
        await self._execute(
            tx,
            "INSERT INTO {s}.segments AS g VALUES ($1, $2, $3) ON CONFLICT (user_id)"
            " DO UPDATE SET segment = excluded.segment, changed_at = excluded.changed_at"
            " WHERE g.changed_at < excluded.changed_at",
            user_id,
            segment,
            at,
        )

    async def profile(self, tx: Transaction, user_id: UUID) -> Profile:
        """The user's affinities, segment and bought products."""
        connection = connection_of(tx)
        affinities = await connection.fetch(
            f"SELECT category, weight FROM {self._s}.affinities WHERE user_id = $1", user_id
        )
        segment = await connection.fetchval(
            f"SELECT segment FROM {self._s}.segments WHERE user_id = $1", user_id
        )
        bought = await connection.fetch(
            f"SELECT product_id FROM {self._s}.bought WHERE user_id = $1", user_id
        )
        return Profile(
            affinities={r["category"]: r["weight"] for r in affinities},
            segment=segment,
            bought=frozenset(r["product_id"] for r in bought),
        )

    async def candidates(self, tx: Transaction) -> list[Candidate]:
        """The recent catalogue's products that the product catalogue has announced (its
        ProductCatalogUpdated: a product shows only once its artisan is verified), not
        delisted and not known to be sold out."""
        rows = await connection_of(tx).fetch(
            f"SELECT c.product_id, c.category, c.listed_at, coalesce(p.score, 0) AS popularity"
            f" FROM {self._s}.catalogue c JOIN {self._s}.listing l USING (product_id)"
            f" LEFT JOIN {self._s}.popularity p USING (product_id)"
            " WHERE NOT l.delisted AND coalesce(l.available, 1) > 0"
        )
        return [
            Candidate(r["product_id"], r["category"], r["listed_at"], r["popularity"]) for r in rows
        ]
