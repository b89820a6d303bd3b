"""The dashboard's queries over the analytics read models (see `services.analytics.tables`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from runtime.eventstore.base import Transaction
from runtime.eventstore.postgres import connection_of

__all__ = ["DayKpis", "Kpis", "TopProduct"]

TOP_PRODUCTS = 10


@dataclass(frozen=True, slots=True)
class TopProduct:
    """A product's units and revenue (minor units) in one day's confirmed orders."""

    product_id: UUID
    name: str | None
    units: int
    revenue_minor: int


@dataclass(frozen=True, slots=True)
class DayKpis:
    """One day's figures for the dashboard."""

    orders: int
    revenue_minor: int
    visitors: int
    converted: int
    registrations: int
    verified_artisans: int
    top_products: list[TopProduct]
    as_of: datetime | None


class Kpis:
    """Reads of the analytics schema."""

    def __init__(self, schema: str) -> None:
        self._s = f'"{schema}"'

    async def _fetch(self, tx: Transaction, sql: str, *args: Any) -> list[Any]:
        return list(await connection_of(tx).fetch(sql.format(s=self._s), *args))

    async def orders_by_day(self, tx: Transaction, first: date, last: date) -> dict[date, int]:
        """Orders placed per day of `first`..`last` (days without orders left out)."""
        rows = await self._fetch(
            tx,
            "SELECT placed_on, count(*) AS n FROM {s}.orders"
            " WHERE placed_on BETWEEN $1 AND $2 GROUP BY placed_on",
            first,
            last,
        )
        return {r["placed_on"]: r["n"] for r in rows}

    async def revenue_by_day(self, tx: Transaction, first: date, last: date) -> dict[date, int]:
        """Net revenue per confirmation day: totals less their refunds, each at least zero."""
        rows = await self._fetch(
            tx,
            "SELECT o.confirmed_on AS day,"
            " sum(greatest(o.total_minor - coalesce(r.refunded, 0), 0))::bigint AS revenue"
            " FROM {s}.orders o LEFT JOIN (SELECT order_id, sum(amount_minor) AS refunded"
            " FROM {s}.refunds GROUP BY order_id) r USING (order_id)"
            " WHERE o.confirmed_on BETWEEN $1 AND $2 GROUP BY o.confirmed_on",
            first,
            last,
        )
        return {r["day"]: r["revenue"] for r in rows}

    async def top_products(self, tx: Transaction, day: date) -> list[TopProduct]:
        """The day's best sellers by units (then revenue), at most ten."""
        rows = await self._fetch(
            tx,
            "SELECT l.product_id, p.name, sum(l.quantity)::bigint AS units,"
            " sum(l.quantity * l.unit_price_minor)::bigint AS revenue"
            " FROM {s}.order_lines l JOIN {s}.orders o USING (order_id)"
            " LEFT JOIN {s}.products p USING (product_id)"
            " WHERE o.confirmed_on = $1 GROUP BY l.product_id, p.name"
            " ORDER BY units DESC, revenue DESC, l.product_id LIMIT $2",
            day,
            TOP_PRODUCTS,
        )
        return [TopProduct(r["product_id"], r["name"], r["units"], r["revenue"]) for r in rows]

    async def day(self, tx: Transaction, day: date) -> DayKpis:
        """Everything the dashboard shows for `day`."""
        counts = (
            await self._fetch(
                tx,
                "SELECT"
                " (SELECT count(*) FROM {s}.visits WHERE day = $1 AND (viewed OR carted))"
                "   AS visitors,"
                " (SELECT count(*) FROM {s}.visits WHERE day = $1 AND (viewed OR carted)"
                "   AND ordered) AS converted,"
                " (SELECT count(*) FROM {s}.users WHERE registered_on = $1) AS registrations,"
                " (SELECT count(*) FROM {s}.artisans WHERE verified_at IS NOT NULL)"
                "   AS verified_artisans,"
                " (SELECT max(as_of) FROM {s}.watermarks) AS as_of",
                day,
            )
        )[0]
        orders = await self.orders_by_day(tx, day, day)
        revenue = await self.revenue_by_day(tx, day, day)
        return DayKpis(
            orders=orders.get(day, 0),
            revenue_minor=revenue.get(day, 0),
            visitors=counts["visitors"],
            converted=counts["converted"],
            registrations=counts["registrations"],
            verified_artisans=counts["verified_artisans"],
            top_products=await self.top_products(tx, day),
            as_of=counts["as_of"],
        )
