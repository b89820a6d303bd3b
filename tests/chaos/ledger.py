"""What a burst left in the services' databases: each order's end, and each effect counted.

An order is lost when the order service accepted it and it never reached a final status;
an effect is doubled when it happened more than once for one order (stock moved, a payment,
its split, a reservation), and missing when a confirmed order lacks it.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from tests.chaos.burst import BurstResult

FINAL = ("confirmed", "cancelled", "rejected")

EFFECTS = {
    "order confirmed": (
        'SELECT aggregate_id AS order_id, count(*) AS n FROM "order".events'
        " WHERE type = 'a4co.order.confirmed.v1' AND aggregate_id = ANY($1::text[]) GROUP BY 1"
    ),
    "stock reserved": (
        "SELECT aggregate_id AS order_id, count(*) AS n FROM inventory.events"
        " WHERE type = 'a4co.inventory.stock_reserved.v1' AND aggregate_id = ANY($1::text[])"
        " GROUP BY 1"
    ),
    "reservation committed": (
        "SELECT order_id::text AS order_id, count(*) AS n FROM inventory.reservations"
        " WHERE state = 'committed' AND order_id::text = ANY($1::text[]) GROUP BY 1"
    ),
    "payment initiated": (
        "SELECT payload->>'order_id' AS order_id, count(*) AS n FROM payment.events"
        " WHERE type = 'a4co.payment.initiated.v1' AND payload->>'order_id' = ANY($1::text[])"
        " GROUP BY 1"
    ),
    "payment succeeded": (
        "SELECT payload->>'order_id' AS order_id, count(*) AS n FROM payment.events"
        " WHERE type = 'a4co.payment.succeeded.v1' AND payload->>'order_id' = ANY($1::text[])"
        " GROUP BY 1"
    ),
    "payment split": (
        "SELECT payload->>'order_id' AS order_id, count(*) AS n FROM payment.events"
        " WHERE type = 'a4co.payment.split_created.v1' AND payload->>'order_id' = ANY($1::text[])"
        " GROUP BY 1"
    ),
    "payment row succeeded": (
        "SELECT order_id::text AS order_id, count(*) AS n FROM payment.payments"
        " WHERE status = 'succeeded' AND order_id::text = ANY($1::text[]) GROUP BY 1"
    ),
}
"""Each effect a confirmed order has exactly once: (order id, how many times) per query."""


@dataclass(frozen=True, slots=True)
class Settled:
    """One order as the read model ends it: status, cancel reason, placed and settled (epoch s)."""

    status: str
    reason: str | None
    placed_at: float
    settled_at: float


@dataclass
class Ledger:
    """Every order of the burst's customers, and every effect counted per confirmed order."""

    orders: dict[UUID, Settled]
    accepted: list[UUID]
    stock: int
    on_hand: int = 0
    reserved: int = 0
    effects: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def lost(self) -> list[UUID]:
        """Accepted orders that are not in the read model or not final."""
        return [
            o for o in self.accepted if o not in self.orders or self.orders[o].status not in FINAL
        ]

    @property
    def unknown(self) -> list[UUID]:
        """Orders recorded although their POST did not answer 201."""
        return sorted(set(self.orders) - set(self.accepted))

    @property
    def confirmed(self) -> list[UUID]:
        """The confirmed orders."""
        return [o for o, s in self.orders.items() if s.status == "confirmed"]

    @property
    def stock_moved(self) -> int:
        """Units that left the shelf (one per confirmed order of quantity 1)."""
        return self.stock - self.on_hand

    def doubled(self) -> dict[str, int]:
        """Per effect, the orders that have it more than once (stock: units moved too many)."""
        counts = {
            name: sum(1 for n in seen.values() if n > 1) for name, seen in self.effects.items()
        }
        counts["stock moved"] = max(0, self.stock_moved - len(self.confirmed))
        return counts

    def missing(self) -> dict[str, int]:
        """Per effect, the confirmed orders without it (stock: units short of the confirmed)."""
        counts = {
            name: sum(1 for o in self.confirmed if seen[str(o)] == 0)
            for name, seen in self.effects.items()
        }
        counts["stock moved"] = max(0, len(self.confirmed) - self.stock_moved)
        return counts


async def settle(
    database_url: str, customers: list[UUID], accepted: list[UUID], *, timeout: float
) -> dict[UUID, Settled]:
    """Wait until every accepted order is final; return every order of `customers`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        orders = await _orders(database_url, customers)
        pending = [o for o in accepted if o not in orders or orders[o].status not in FINAL]
        pending += [o for o, s in orders.items() if s.status not in FINAL and o not in accepted]
        if not pending or asyncio.get_running_loop().time() > deadline:
            return orders
        await asyncio.sleep(0.5)


async def count_effects(
    database_url: str, product: UUID, stock: int, orders: dict[UUID, Settled], *, timeout: float
) -> tuple[int, int, dict[str, Counter[str]]]:
    """(on hand, reserved, effects): once every reservation is committed or released."""
    ids = [str(o) for o in orders]
    connection = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            row = await connection.fetchrow(
                "SELECT on_hand, reserved FROM inventory.stock WHERE product_id = $1", product
            )
            assert row is not None, f"inventory does not know product {product}"
            if row["reserved"] == 0 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        effects = {}
        for name, query in EFFECTS.items():
            rows = await connection.fetch(query, ids)
            effects[name] = Counter({r["order_id"]: r["n"] for r in rows})
        return row["on_hand"], row["reserved"], effects
    finally:
        await connection.close()


async def _orders(database_url: str, customers: list[UUID]) -> dict[UUID, Settled]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            'SELECT order_id, status, cancel_reason, placed_at, updated_at FROM "order".orders_view'
            " WHERE customer_id = ANY($1::uuid[])",
            customers,
        )
    finally:
        await connection.close()
    return {
        r["order_id"]: Settled(
            r["status"], r["cancel_reason"], r["placed_at"].timestamp(), r["updated_at"].timestamp()
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class Recovery:
    """Seconds from the fault until an order placed after it settled, and until all settled."""

    first_after_fault: float | None
    drained: float | None
    worst_settle: float
    p50_settle: float
    p99_settle: float


def recovery(burst: BurstResult, ledger: Ledger) -> Recovery:
    """The recovery figures: the fault's start against the orders' settle times."""
    final = {o: s for o, s in ledger.orders.items() if s.status in FINAL}
    after = [
        final[p.order_id].settled_at
        for p in burst.placements
        if p.order_id in final and p.sent_at >= burst.fault_at
    ]
    latencies = sorted(s.settled_at - s.placed_at for s in final.values()) or [0.0]
    last = max((s.settled_at for s in final.values()), default=None)
    return Recovery(
        first_after_fault=min(after) - burst.fault_at if after else None,
        drained=last - burst.fault_at if last is not None else None,
        worst_settle=latencies[-1],
        p50_settle=statistics.median(latencies),
        p99_settle=latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    )
