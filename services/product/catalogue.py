"""The catalogue read model: products, their artisans' levels and stock, and its search.

`products` is fed by NewProductListed; an entry is visible (searchable, readable) only
once its artisan's level is known from ArtisanVerified, which may arrive before or after
the listing (separate consumers). `artisans` keeps each verified artisan's latest level
(ArtisanVerified, ArtisanPerformanceEvaluated); `stock` keeps the latest StockAdjusted of
each product, which may also arrive first. A visible entry's listing, and its stock when
it sells out or comes back (not every unit sold), is announced as ProductCatalogUpdated
on the product's `catalog-<id>` stream (the outbox), in the same transaction. Search
uses a stored tsvector ('spanish') with a GIN index and keyset pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from generated.product.events import Publisher
from generated.product.models import NewProductListed, Product, ProductCatalogUpdated
from runtime.bus.base import MessageContext
from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of
from runtime.outbox.sink import StreamSink
from services.product.domain import Position, SearchFilters

__all__ = ["Catalogue"]

_DDL = """
CREATE TABLE IF NOT EXISTS product.products (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, name text NOT NULL,
    description text NOT NULL, category text NOT NULL, price_minor bigint NOT NULL,
    province text NOT NULL, artisan_level text, available integer NOT NULL,
    listed_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('spanish', name), 'A')
        || setweight(to_tsvector('spanish', description), 'B')) STORED);
CREATE INDEX IF NOT EXISTS products_document ON product.products USING gin (document)
    WHERE artisan_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS products_newest ON product.products
    (listed_at DESC, product_id DESC) WHERE artisan_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS products_by_category ON product.products
    (category, listed_at DESC, product_id DESC) WHERE artisan_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS products_by_province ON product.products
    (province, listed_at DESC, product_id DESC) WHERE artisan_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS products_by_artisan ON product.products
    (artisan_id, listed_at DESC, product_id DESC);
CREATE INDEX IF NOT EXISTS products_by_price ON product.products (price_minor)
    WHERE artisan_level IS NOT NULL;
CREATE TABLE IF NOT EXISTS product.artisans (
    artisan_id uuid PRIMARY KEY, level text NOT NULL, level_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS product.stock (
    product_id uuid PRIMARY KEY, available integer NOT NULL, adjusted_at timestamptz NOT NULL);
"""

_COLUMNS = (
    "product_id, artisan_id, name, description, category, price_minor, province,"
    " artisan_level, available, listed_at, updated_at"
)


def _product(row: Any) -> Product:
    values = {k: row[k] for k in _COLUMNS.replace(" ", "").split(",") if k != "price_minor"}
    values["price"] = {"amount_minor": row["price_minor"], "currency": "EUR"}
    return Product.model_validate(values)


class Catalogue:
    """SQL of the catalogue read model (schema `product`), its projection and its search."""

    async def migrate(self, connection: Any) -> None:
        """Create the tables and indexes if missing (the host holds the migration lock)."""
        await connection.execute(_DDL)

    async def add(
        self,
        tx: Transaction,
        message: NewProductListed,
        now: datetime,
        cause: MessageContext | None,
    ) -> Product | None:
        """Add a listed product once; announce it when its artisan is already verified."""
        await _serialise(tx, f"artisan.{message.artisan_id}", f"stock.{message.product_id}")
        row = await connection_of(tx).fetchrow(
            "INSERT INTO product.products (product_id, artisan_id, name, description, category,"
            " price_minor, province, artisan_level, available, listed_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " (SELECT level FROM product.artisans WHERE artisan_id = $2),"
            " coalesce((SELECT available FROM product.stock WHERE product_id = $1), $8), $9, $10)"
            f" ON CONFLICT (product_id) DO NOTHING RETURNING {_COLUMNS}",
            message.product_id,
            message.artisan_id,
            message.name,
            message.description,
            message.category,
            message.price.amount_minor,
            message.province,
            message.initial_stock,
            message.listed_at,
            now,
        )
        if row is None or row["artisan_level"] is None:
            return None
        product = _product(row)
        await self._announce(
            tx, product.product_id, product.artisan_id, "listed", product.available, now, cause
        )
        return product

    async def set_level(
        self,
        tx: Transaction,
        artisan_id: UUID,
        level: str,
        at: datetime,
        now: datetime,
        cause: MessageContext | None,
    ) -> int:
        """Store the artisan's level (unless a later one is stored) on their products.

        Products that become visible with it are announced as listed; returns how many.
        """
        await _serialise(tx, f"artisan.{artisan_id}")
        connection = connection_of(tx)
        stored = await connection.fetchval(
            "INSERT INTO product.artisans AS a VALUES ($1, $2, $3) ON CONFLICT (artisan_id)"
            " DO UPDATE SET level = $2, level_at = $3 WHERE a.level_at < $3 RETURNING true",
            artisan_id,
            level,
            at,
        )
        if not stored:
            return 0
        rows = await connection.fetch(
            "WITH old AS (SELECT product_id, artisan_level FROM product.products"
            " WHERE artisan_id = $1 FOR UPDATE)"
            " UPDATE product.products p SET artisan_level = $2, updated_at = $3 FROM old"
            " WHERE p.product_id = old.product_id"
            " RETURNING p.product_id, p.available, old.artisan_level IS NULL AS appeared",
            artisan_id,
            level,
            now,
        )
        appeared = [r for r in rows if r["appeared"]]
        for r in appeared:
            await self._announce(
                tx, r["product_id"], artisan_id, "listed", r["available"], now, cause
            )
        return len(appeared)

    async def adjust_stock(
        self,
        tx: Transaction,
        product_id: UUID,
        artisan_id: UUID,
        available: int,
        at: datetime,
        cause: MessageContext | None,
    ) -> bool:
        """Store the product's units available unless a later count is stored; True if so.

        The exact count is kept here (search and detail show it); other services hear of
        it only when the product sells out or comes back in stock.
        """
        await _serialise(tx, f"stock.{product_id}")
        # One statement: the count is stored unless a later one is, and only then does the
        # product's own copy move (its row locked to read what it was).
        row = await connection_of(tx).fetchrow(
            "WITH s AS (INSERT INTO product.stock AS s VALUES ($1, $2, $3) ON CONFLICT"
            " (product_id) DO UPDATE SET available = $2, adjusted_at = $3"
            " WHERE s.adjusted_at < $3 RETURNING true AS stored),"
            " old AS (SELECT product_id, available FROM product.products"
            " WHERE product_id = $1 AND EXISTS (SELECT FROM s) FOR UPDATE),"
            " p AS (UPDATE product.products p SET available = $2, updated_at = $3 FROM old"
            " WHERE p.product_id = old.product_id AND old.available <> $2"
            " RETURNING p.artisan_level, old.available AS before)"
            " SELECT (SELECT stored FROM s) AS stored, p.artisan_level, p.before"
            " FROM (SELECT) AS one LEFT JOIN p ON true",
            product_id,
            available,
            at,
        )
        if not row["stored"]:
            return False
        if row["artisan_level"] is None:
            return True
        if (row["before"] > 0) != (available > 0):
            await self._announce(tx, product_id, artisan_id, "stock_changed", available, at, cause)
        return True

    async def get(self, tx: Transaction, product_id: UUID) -> Product | None:
        """One visible product."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS} FROM product.products"
            " WHERE product_id = $1 AND artisan_level IS NOT NULL",
            product_id,
        )
        return _product(row) if row else None

    async def search(
        self, tx: Transaction, filters: SearchFilters, after: Position | None, limit: int
    ) -> list[tuple[Product, Position]]:
        """Up to `limit` visible products matching `filters`, after `after`, in search order."""
        sql, args = _search_sql(filters, after, limit)
        rows = await connection_of(tx).fetch(sql, *args)
        return [
            (
                _product(r),
                Position(
                    r["product_id"],
                    rank=r["rank"] if filters.q else None,
                    listed_at=None if filters.q else r["listed_at"],
                ),
            )
            for r in rows
        ]

    async def _announce(
        self,
        tx: Transaction,
        product_id: UUID,
        artisan_id: UUID,
        change: str,
        available: int | None,
        at: datetime,
        cause: MessageContext | None,
    ) -> None:
        publisher = Publisher(await StreamSink.at_end(tx, f"catalog-{product_id}"))
        await publisher.product_catalog_updated(
            ProductCatalogUpdated.model_validate(
                {
                    "product_id": product_id,
                    "artisan_id": artisan_id,
                    "change": change,
                    "available": available,
                    "updated_at": at,
                }
            ),
            aggregate_id=str(product_id),
            cause=cause,
        )


_LOCKS: WeakKeyDictionary[Transaction, set[str]] = WeakKeyDictionary()
"""The keys each open transaction has locked."""


async def _serialise(tx: Transaction, *keys: str) -> None:
    """Take transaction locks on `keys`, in the order given (artisan before stock).

    A listing reads the artisan's level and the product's stock while their handlers may
    be writing them in concurrent transactions; without these locks, each would miss the
    other's uncommitted row and the entry would stay hidden (or keep a stale stock).
    """
    held = _LOCKS.setdefault(tx, set())
    for key in keys:
        if key in held:  # a unit of work's later message: the lock lasts until the commit
            continue
        await connection_of(tx).execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.product.{key}"
        )
        held.add(key)


def _search_sql(
    filters: SearchFilters, after: Position | None, limit: int
) -> tuple[str, list[Any]]:
    """The keyset query of a search: filters first, then the page's position and size."""
    args: list[Any] = []

    def arg(value: Any, cast: str = "") -> str:
        args.append(value)
        return f"${len(args)}{cast}"

    where = ["artisan_level IS NOT NULL"]
    for column, value in (
        ("category", filters.category),
        ("province", filters.province),
        ("artisan_id", filters.artisan_id),
    ):
        if value is not None:
            where.append(f"{column} = {arg(value)}")
    if filters.min_price_minor is not None:
        where.append(f"price_minor >= {arg(filters.min_price_minor)}")
    if filters.max_price_minor is not None:
        where.append(f"price_minor <= {arg(filters.max_price_minor)}")
    if filters.q is None:
        if after is not None:
            key = f"({arg(after.listed_at, '::timestamptz')}, {arg(after.product_id, '::uuid')})"
            where.append(f"(listed_at, product_id) < {key}")
        return (
            f"SELECT {_COLUMNS} FROM product.products WHERE {' AND '.join(where)}"
            f" ORDER BY listed_at DESC, product_id DESC LIMIT {arg(limit)}"
        ), args
    query = f"websearch_to_tsquery('spanish', {arg(filters.q)})"
    where.append(f"document @@ {query}")
    keyset = ""
    if after is not None:
        key = f"({arg(after.rank, '::real')}, {arg(after.product_id, '::uuid')})"
        keyset = f" WHERE (rank, product_id) < {key}"
    return (
        f"SELECT * FROM (SELECT {_COLUMNS}, ts_rank(document, {query}) AS rank"
        f" FROM product.products WHERE {' AND '.join(where)}) s{keyset}"
        f" ORDER BY rank DESC, product_id DESC LIMIT {arg(limit)}"
    ), args
