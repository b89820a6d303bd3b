"""The analytics read models: one row per fact, written so that any arrival order converges.

Facts with a natural key (an order, a user, an artisan, a product, a refund) are upserts
that fill what is still missing or keep the newest value, so an OrderConfirmed arriving
before its OrderCreated loses nothing and a logical duplicate changes nothing. Plain
tallies (payments, stock movements, notifications...) go to `daily_counts`, made
idempotent by the inbox the handlers write in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from runtime.eventstore.base import Transaction
from runtime.eventstore.held import Held
from runtime.eventstore.postgres import connection_of
from services.analytics.domain import day_of

__all__ = ["AnalyticsTables", "Line"]

Line = tuple[UUID, int, int]
"""An order line: product, quantity, unit price in minor units."""

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".orders (
    order_id uuid PRIMARY KEY, customer_id uuid NOT NULL,
    placed_at timestamptz, placed_on date,
    total_minor bigint, confirmed_at timestamptz, confirmed_on date,
    cancel_reason text, cancelled_at timestamptz, delivered_at timestamptz);
CREATE INDEX IF NOT EXISTS orders_placed_on_idx ON "{s}".orders (placed_on);
CREATE INDEX IF NOT EXISTS orders_confirmed_on_idx ON "{s}".orders (confirmed_on);
CREATE TABLE IF NOT EXISTS "{s}".order_lines (
    order_id uuid NOT NULL, line integer NOT NULL, product_id uuid NOT NULL,
    quantity integer NOT NULL, unit_price_minor bigint NOT NULL,
    PRIMARY KEY (order_id, line));
CREATE TABLE IF NOT EXISTS "{s}".order_statuses (
    order_id uuid NOT NULL, status text NOT NULL, entered_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, status));
CREATE TABLE IF NOT EXISTS "{s}".refunds (
    payment_id uuid PRIMARY KEY, order_id uuid NOT NULL, amount_minor bigint NOT NULL,
    refunded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS refunds_order_idx ON "{s}".refunds (order_id);
CREATE TABLE IF NOT EXISTS "{s}".visits (
    day date NOT NULL, user_id uuid NOT NULL,
    viewed boolean NOT NULL DEFAULT false, carted boolean NOT NULL DEFAULT false,
    ordered boolean NOT NULL DEFAULT false, PRIMARY KEY (day, user_id));
CREATE TABLE IF NOT EXISTS "{s}".users (
    user_id uuid PRIMARY KEY, role text, registered_on date,
    province text, province_at timestamptz, segment text, segment_at timestamptz);
CREATE INDEX IF NOT EXISTS users_registered_on_idx ON "{s}".users (registered_on);
CREATE TABLE IF NOT EXISTS "{s}".artisans (
    artisan_id uuid PRIMARY KEY, user_id uuid, level text, province text,
    verified_at timestamptz, tier text, orders_delivered integer, average_rating integer,
    evaluated_at timestamptz);
CREATE TABLE IF NOT EXISTS "{s}".products (
    product_id uuid PRIMARY KEY, artisan_id uuid NOT NULL, name text, category text,
    listed_at timestamptz, available integer, delisted boolean NOT NULL DEFAULT false,
    catalog_at timestamptz);
CREATE TABLE IF NOT EXISTS "{s}".daily_counts (
    day date NOT NULL, metric text NOT NULL, key text NOT NULL,
    count bigint NOT NULL, amount bigint NOT NULL, PRIMARY KEY (day, metric, key));
CREATE TABLE IF NOT EXISTS "{s}".watermarks (
    consumer text PRIMARY KEY, as_of timestamptz NOT NULL);
"""

_Tallies = dict[tuple[date, str, str], tuple[int, int]]
"""(day, metric, key) -> (count, amount) that a transaction has still to add."""
_Statuses = dict[tuple[UUID, str], tuple[datetime]]
"""(order, status) -> (the earliest time a transaction saw the order enter it,)."""
_Visits = dict[tuple[date, UUID], tuple[bool, bool, bool]]
"""(day, user) -> (viewed, carted, ordered) that a transaction has still to turn on."""
_Lines = dict[tuple[UUID, int], Line]
"""(order, line number) -> the line, the first one a transaction saw."""
_ORDER_COLUMNS = (
    "customer_id",
    "placed_at",
    "placed_on",
    "total_minor",
    "confirmed_at",
    "confirmed_on",
    "cancel_reason",
    "cancelled_at",
    "delivered_at",
)
_Orders = dict[tuple[UUID], tuple[Any, ...]]
"""(order,) -> its facts in `_ORDER_COLUMNS` order, the first a transaction saw of each."""


class AnalyticsTables:
    """Writes of the analytics schema; every method runs in the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'
        # Rows a unit of work only writes wait for its commit, merged per key: one
        # statement per table and unit instead of one per message.
        self._tallies: Held[_Tallies] = Held(dict, self._write_tallies)
        self._statuses: Held[_Statuses] = Held(dict, self._write_statuses)
        self._visits: Held[_Visits] = Held(dict, self._write_visits)
        self._lines: Held[_Lines] = Held(dict, self._write_lines)
        self._orders: Held[_Orders] = Held(dict, self._write_orders)

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL.format(s=self.schema))

    async def _execute(self, tx: Transaction, sql: str, *args: Any) -> None:
        await connection_of(tx).execute(sql.format(s=self._s), *args)

    async def store_watermarks(self, tx: Transaction, marks: dict[str, datetime]) -> None:
        """Move each consumer's watermark (the dashboard's `as_of`) forward, never back."""
        await self._execute(
            tx,
            "INSERT INTO {s}.watermarks AS w SELECT * FROM unnest($1::text[], $2::timestamptz[])"
            " ON CONFLICT (consumer) DO UPDATE SET as_of = excluded.as_of"
            " WHERE w.as_of < excluded.as_of",
            list(marks),
            list(marks.values()),
        )

    async def order_placed(
        self, tx: Transaction, order_id: UUID, customer_id: UUID, placed_at: datetime
    ) -> None:
        """Record when the order was placed and mark its customer as having ordered that day."""
        day = day_of(placed_at)
        self._order(tx, order_id, customer_id, placed_at=placed_at, placed_on=day)
        await self.visited(tx, day, customer_id, ordered=True)

    async def order_confirmed(
        self,
        tx: Transaction,
        order_id: UUID,
        customer_id: UUID,
        *,
        total_minor: int,
        confirmed_at: datetime,
        lines: Sequence[Line],
    ) -> None:
        """Record the confirmed total and lines once, whenever the OrderCreated arrives."""
        self._order(
            tx,
            order_id,
            customer_id,
            total_minor=total_minor,
            confirmed_at=confirmed_at,
            confirmed_on=day_of(confirmed_at),
        )
        held = self._lines.of(tx)
        for n, line in enumerate(lines):
            held.setdefault((order_id, n), line)

    async def order_ended(
        self,
        tx: Transaction,
        order_id: UUID,
        customer_id: UUID,
        *,
        cancel_reason: str | None = None,
        at: datetime,
    ) -> None:
        """Record a cancellation (with `cancel_reason`) or else a delivery, the first one wins."""
        if cancel_reason is not None:
            self._order(tx, order_id, customer_id, cancel_reason=cancel_reason, cancelled_at=at)
        else:
            self._order(tx, order_id, customer_id, delivered_at=at)

    def _order(self, tx: Transaction, order_id: UUID, customer_id: UUID, **facts: Any) -> None:
        """Hold facts of an order for the unit's commit; a fact already known is kept (the
        stored one, then the first the unit saw), as one message at a time would keep it."""
        held = self._orders.of(tx)
        known = held.get((order_id,))
        row = dict(zip(_ORDER_COLUMNS, known, strict=True)) if known else {}
        row.setdefault("customer_id", customer_id)
        for column, value in facts.items():
            if row.get(column) is None:
                row[column] = value
        held[(order_id,)] = tuple(row.get(column) for column in _ORDER_COLUMNS)

    async def order_entered(
        self, tx: Transaction, order_id: UUID, status: str, at: datetime
    ) -> None:
        """Record when the order entered `status` (the earliest report wins)."""
        held = self._statuses.of(tx)
        key = (order_id, status)
        held[key] = (min(held[key][0], at),) if key in held else (at,)

    async def refunded(
        self, tx: Transaction, payment_id: UUID, order_id: UUID, amount_minor: int, at: datetime
    ) -> None:
        """Record a refund once per payment; revenue subtracts it from its order."""
        await self._execute(
            tx,
            "INSERT INTO {s}.refunds VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING",
            payment_id,
            order_id,
            amount_minor,
            at,
        )

    async def visited(
        self,
        tx: Transaction,
        day: date,
        user_id: UUID,
        *,
        viewed: bool = False,
        carted: bool = False,
        ordered: bool = False,
    ) -> None:
        """Mark what the user did on `day` (flags only ever turn on)."""
        held = self._visits.of(tx)
        was = held.get((day, user_id), (False, False, False))
        held[(day, user_id)] = (was[0] or viewed, was[1] or carted, was[2] or ordered)

    async def registered(
        self, tx: Transaction, user_id: UUID, role: str, province: str, at: datetime
    ) -> None:
        """Record the sign-up day; the province unless a later profile change is stored."""
        await self._execute(
            tx,
            "INSERT INTO {s}.users AS u (user_id, role, registered_on, province, province_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET"
            " role = excluded.role, registered_on = excluded.registered_on,"
            " province = CASE WHEN u.province_at IS NULL OR u.province_at < excluded.province_at"
            " THEN excluded.province ELSE u.province END,"
            " province_at = greatest(u.province_at, excluded.province_at)",
            user_id,
            role,
            day_of(at),
            province,
            at,
        )

    async def moved(self, tx: Transaction, user_id: UUID, province: str, at: datetime) -> None:
        """Record the user's province as of `at`, unless a later one is stored."""
        await self._execute(
            tx,
            "INSERT INTO {s}.users AS u (user_id, province, province_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET province = excluded.province,"
            " province_at = excluded.province_at"
            " WHERE u.province_at IS NULL OR u.province_at < excluded.province_at",
            user_id,
            province,
            at,
        )

    async def segmented(self, tx: Transaction, user_id: UUID, segment: str, at: datetime) -> None:
        """Record the user's segment as of `at`, unless a later one is stored."""
        await self._execute(
            tx,
            "INSERT INTO {s}.users AS u (user_id, segment, segment_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET segment = excluded.segment,"
            " segment_at = excluded.segment_at"
            " WHERE u.segment_at IS NULL OR u.segment_at < excluded.segment_at",
            user_id,
            segment,
            at,
        )

    async def artisan_verified(
        self,
        tx: Transaction,
        artisan_id: UUID,
        user_id: UUID,
        *,
        level: str,
        province: str,
        at: datetime,
    ) -> None:
        """Record the artisan's verification (the latest one wins)."""
        await self._execute(
            tx,
            "INSERT INTO {s}.artisans AS a (artisan_id, user_id, level, province, verified_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (artisan_id) DO UPDATE SET"
            " user_id = excluded.user_id, level = excluded.level,"
            " province = excluded.province, verified_at = excluded.verified_at"
            " WHERE a.verified_at IS NULL OR a.verified_at < excluded.verified_at",
            artisan_id,
            user_id,
            level,
            province,
            at,
        )

    async def artisan_evaluated(
        self,
        tx: Transaction,
        artisan_id: UUID,
        *,
        tier: str,
        orders_delivered: int,
        average_rating: int,
        at: datetime,
    ) -> None:
        """Keep the artisan's latest performance figures."""
        await self._execute(
            tx,
            "INSERT INTO {s}.artisans AS a (artisan_id, tier, orders_delivered, average_rating,"
            " evaluated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (artisan_id) DO UPDATE SET"
            " tier = excluded.tier, orders_delivered = excluded.orders_delivered,"
            " average_rating = excluded.average_rating, evaluated_at = excluded.evaluated_at"
            " WHERE a.evaluated_at IS NULL OR a.evaluated_at < excluded.evaluated_at",
            artisan_id,
            tier,
            orders_delivered,
            average_rating,
            at,
        )

    async def product_listed(
        self,
        tx: Transaction,
        product_id: UUID,
        artisan_id: UUID,
        *,
        name: str,
        category: str,
        at: datetime,
    ) -> None:
        """Record the product's name and category for the rankings."""
        await self._execute(
            tx,
            "INSERT INTO {s}.products AS p (product_id, artisan_id, name, category, listed_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product_id) DO UPDATE SET"
            " name = excluded.name, category = excluded.category, listed_at = excluded.listed_at",
            product_id,
            artisan_id,
            name,
            category,
            at,
        )

    async def catalog_changed(
        self,
        tx: Transaction,
        product_id: UUID,
        artisan_id: UUID,
        *,
        available: int | None,
        delisted: bool | None,
        at: datetime,
    ) -> None:
        """Keep the catalogue's latest availability and listing state (None: unchanged)."""
        await self._execute(
            tx,
            "INSERT INTO {s}.products AS p (product_id, artisan_id, available, delisted,"
            " catalog_at) VALUES ($1, $2, $3, coalesce($4::boolean, false), $5)"
            " ON CONFLICT (product_id) DO UPDATE SET"
            " available = coalesce(excluded.available, p.available),"
            " delisted = coalesce($4::boolean, p.delisted), catalog_at = excluded.catalog_at"
            " WHERE p.catalog_at IS NULL OR p.catalog_at < excluded.catalog_at",
            product_id,
            artisan_id,
            available,
            delisted,
            at,
        )

    async def count(
        self, tx: Transaction, at: datetime, metric: str, key: str = "", amount: int = 0
    ) -> None:
        """Add one `metric` (optionally per `key`, with an `amount`) to the day of `at`.

        The tallies wait in the transaction and are written before it commits, one row per
        day, metric and key: a unit of twenty messages of one consumer that count the same
        key adds 20 to it in one statement, not in twenty.
        """
        tallies = self._tallies.of(tx)
        row = (day_of(at), metric, key)
        count, total = tallies.get(row, (0, 0))
        tallies[row] = (count + 1, total + amount)

    async def _write_tallies(self, tx: Transaction, tallies: _Tallies) -> None:
        await self._write_merged(
            tx,
            "INSERT INTO {s}.daily_counts AS c SELECT * FROM"
            " unnest($1::date[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])"
            " ON CONFLICT (day, metric, key) DO UPDATE SET count = c.count + excluded.count,"
            " amount = c.amount + excluded.amount",
            tallies,
        )

    async def _write_orders(self, tx: Transaction, orders: _Orders) -> None:
        await self._write_merged(
            tx,
            "INSERT INTO {s}.orders AS o (order_id, customer_id, placed_at, placed_on,"
            " total_minor, confirmed_at, confirmed_on, cancel_reason, cancelled_at,"
            " delivered_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[],"
            " $4::date[], $5::bigint[], $6::timestamptz[], $7::date[], $8::text[],"
            " $9::timestamptz[], $10::timestamptz[])"
            " ON CONFLICT (order_id) DO UPDATE SET"
            " placed_at = coalesce(o.placed_at, excluded.placed_at),"
            " placed_on = coalesce(o.placed_on, excluded.placed_on),"
            " total_minor = coalesce(o.total_minor, excluded.total_minor),"
            " confirmed_at = coalesce(o.confirmed_at, excluded.confirmed_at),"
            " confirmed_on = coalesce(o.confirmed_on, excluded.confirmed_on),"
            " cancel_reason = coalesce(o.cancel_reason, excluded.cancel_reason),"
            " cancelled_at = coalesce(o.cancelled_at, excluded.cancelled_at),"
            " delivered_at = coalesce(o.delivered_at, excluded.delivered_at)",
            orders,
        )

    async def _write_statuses(self, tx: Transaction, statuses: _Statuses) -> None:
        await self._write_merged(
            tx,
            "INSERT INTO {s}.order_statuses AS o SELECT * FROM"
            " unnest($1::uuid[], $2::text[], $3::timestamptz[])"
            " ON CONFLICT (order_id, status) DO UPDATE SET"
            " entered_at = least(o.entered_at, excluded.entered_at)",
            statuses,
        )

    async def _write_visits(self, tx: Transaction, visits: _Visits) -> None:
        await self._write_merged(
            tx,
            "INSERT INTO {s}.visits AS v SELECT * FROM"
            " unnest($1::date[], $2::uuid[], $3::boolean[], $4::boolean[], $5::boolean[])"
            " ON CONFLICT (day, user_id) DO UPDATE SET viewed = v.viewed OR excluded.viewed,"
            " carted = v.carted OR excluded.carted, ordered = v.ordered OR excluded.ordered",
            visits,
        )

    async def _write_lines(self, tx: Transaction, lines: _Lines) -> None:
        await self._write_merged(
            tx,
            "INSERT INTO {s}.order_lines SELECT * FROM"
            " unnest($1::uuid[], $2::integer[], $3::uuid[], $4::integer[], $5::bigint[])"
            " ON CONFLICT (order_id, line) DO NOTHING",
            lines,
        )

    async def _write_merged(
        self, tx: Transaction, sql: str, held: Mapping[tuple[Any, ...], tuple[Any, ...]]
    ) -> None:
        """One `unnest` statement of `held`'s rows (key columns, then value columns), in
        key order: two units writing the same rows lock them in the same order."""
        if not held:
            return
        rows = [(*key, *held[key]) for key in sorted(held)]
        await self._execute(tx, sql, *(list(column) for column in zip(*rows, strict=True)))
