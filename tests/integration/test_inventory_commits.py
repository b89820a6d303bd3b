"""Inventory's sales: CommitStock messages taken together commit as one change per product.

The handlers run on a real PostgreSQL, in a schema of the test's own, inside the unit of
work the consumer runner opens for a batch (and alone, as a single message is handled).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from generated.inventory.events import COMMIT_STOCK, RELEASE_STOCK, RESERVE_STOCK, SUBSCRIPTIONS
from generated.inventory.models import CommitStock, ReleaseStock, ReserveStock
from runtime.bus.base import MessageContext
from runtime.bus.memory import InMemoryEventSink
from runtime.service import ServiceContext
from runtime.service.settings import Settings
from services.inventory.domain import Stock
from services.inventory.handlers import InventoryHandlers
from services.inventory.stock import StockTables
from tests.conftest import Schema, context_of


async def inventory(schema: Schema, database_url: str) -> InventoryHandlers:
    tables = StockTables(schema.name)
    async with schema.pool.acquire() as connection:
        await tables.migrate(connection)
    settings = Settings(service=schema.name, nats_url="nats://unused", database_url=database_url)
    return InventoryHandlers(ServiceContext(settings, schema.store, InMemoryEventSink()), tables)


async def shelf(schema: Schema, handlers: InventoryHandlers, on_hand: int) -> UUID:
    """A product with `on_hand` units (its stream opened by a first StockAdjusted)."""
    product = uuid.uuid4()
    async with schema.store.transaction() as tx:
        await StockTables(schema.name).save(
            tx, None, Stock(product, uuid.uuid4(), on_hand, 1), 0, now=datetime.now(UTC), cause=None
        )
    return product


async def reserve(handlers: InventoryHandlers, lines: list[tuple[UUID, int]]) -> UUID:
    order = uuid.uuid4()
    message = ReserveStock.model_validate(
        {
            "order_id": order,
            "items": [{"product_id": p, "quantity": q} for p, q in lines],
            "expires_at": datetime.now(UTC) + timedelta(minutes=15),
        }
    )
    await handlers.reserve_stock(message, context_of(RESERVE_STOCK, str(order)))
    return order


async def adjustments(schema: Schema, product: UUID) -> list[dict[str, Any]]:
    """The StockAdjusted payloads and causes of the product's stream, in order."""
    rows = await schema.pool.fetch(
        f'SELECT payload, headers FROM "{schema.name}".events WHERE stream_id = $1'
        " AND type = 'a4co.inventory.stock_adjusted.v1' ORDER BY version",
        f"stock-{product}",
    )
    return [
        {**json.loads(r["payload"]), "cause": json.loads(r["headers"]).get("causation-id")}
        for r in rows
    ]


async def states(schema: Schema, orders: list[UUID]) -> list[str]:
    rows = await schema.pool.fetch(
        f'SELECT order_id, state FROM "{schema.name}".reservations'
        " WHERE order_id = ANY($1::uuid[])",
        orders,
    )
    by_order = {r["order_id"]: r["state"] for r in rows}
    return [by_order[o] for o in orders]


async def commit_in_one_unit(
    handlers: InventoryHandlers, contexts: list[tuple[UUID, MessageContext]]
) -> None:
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "commit_stock"]
    async with handlers._ctx.unit_of_work(subscription, [c for _, c in contexts]):
        for order, context in contexts:
            await handlers.commit_stock(CommitStock(order_id=order), context)


async def test_a_unit_of_sales_records_one_change_per_product_and_skips_its_copies(
    schema: Schema, database_url: str
) -> None:
    handlers = await inventory(schema, database_url)
    oil, cheese = await shelf(schema, handlers, 20), await shelf(schema, handlers, 10)
    orders = [
        await reserve(handlers, [(oil, 2)]),
        await reserve(handlers, [(oil, 3), (cheese, 1)]),
        await reserve(handlers, [(cheese, 4)]),
    ]
    assert [a["available"] for a in await adjustments(schema, oil)] == [20, 18, 15]
    contexts = [(order, context_of(COMMIT_STOCK, str(order))) for order in orders]
    copy = (orders[0], context_of(COMMIT_STOCK, str(orders[0])))  # the same sale, another id

    await commit_in_one_unit(handlers, [*contexts, copy])

    assert await states(schema, orders) == ["committed"] * 3
    *_, sold_oil = await adjustments(schema, oil)
    *_, sold_cheese = await adjustments(schema, cheese)
    assert len(await adjustments(schema, oil)) == 4  # listed, two reservations, one sale
    assert (sold_oil["available"], sold_oil["reserved"]) == (15, 0)
    assert (sold_cheese["available"], sold_cheese["reserved"]) == (5, 0)
    by_order = dict(contexts)  # each sale is caused by the first of its orders, in id order
    assert sold_oil["cause"] == by_order[min(orders[0], orders[1])].id
    assert sold_cheese["cause"] == by_order[min(orders[1], orders[2])].id
    rows = await schema.pool.fetch(
        f'SELECT on_hand, reserved FROM "{schema.name}".stock WHERE product_id = $1', oil
    )
    assert [(r["on_hand"], r["reserved"]) for r in rows] == [(15, 0)]

    await commit_in_one_unit(handlers, contexts)  # redelivered: every one already handled
    assert len(await adjustments(schema, oil)) == 4
    assert len(await adjustments(schema, cheese)) == 4


async def test_a_sale_alone_or_of_nothing_held_commits_as_before(
    schema: Schema, database_url: str
) -> None:
    handlers = await inventory(schema, database_url)
    oil = await shelf(schema, handlers, 5)
    order = await reserve(handlers, [(oil, 2)])

    await handlers.commit_stock(CommitStock(order_id=order), context_of(COMMIT_STOCK, str(order)))
    unknown = uuid.uuid4()  # no reservation: nothing to commit, nothing recorded
    await handlers.commit_stock(
        CommitStock(order_id=unknown), context_of(COMMIT_STOCK, str(unknown))
    )
    await handlers.commit_stock(CommitStock(order_id=order), context_of(COMMIT_STOCK, str(order)))

    assert await states(schema, [order]) == ["committed"]
    assert [(a["available"], a["reserved"]) for a in await adjustments(schema, oil)] == [
        (5, 0),
        (3, 2),
        (3, 0),
    ]


async def test_a_unit_whose_commit_fails_leaves_every_reservation_held(
    schema: Schema, database_url: str
) -> None:
    handlers = await inventory(schema, database_url)
    oil = await shelf(schema, handlers, 5)
    orders = [await reserve(handlers, [(oil, 1)]) for _ in range(2)]
    contexts = [(order, context_of(COMMIT_STOCK, str(order))) for order in orders]
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "commit_stock"]

    with pytest.raises(RuntimeError, match="a later handler failed"):
        async with handlers._ctx.unit_of_work(subscription, [c for _, c in contexts]):
            for order, context in contexts:
                await handlers.commit_stock(CommitStock(order_id=order), context)
            raise RuntimeError("a later handler failed")

    assert await states(schema, orders) == ["held", "held"]
    assert len(await adjustments(schema, oil)) == 3
    await commit_in_one_unit(handlers, contexts)  # handled again, as the runner would
    assert await states(schema, orders) == ["committed", "committed"]


async def test_a_reservation_and_a_release_append_with_their_stock_rows_in_one_statement(
    schema: Schema, database_url: str
) -> None:
    handlers = await inventory(schema, database_url)
    oil, cheese = await shelf(schema, handlers, 20), await shelf(schema, handlers, 10)
    sent = await schema.statements()

    order = await reserve(handlers, [(oil, 2), (cheese, 1)])

    # The inbox row, the reservation claimed, the products locked, then the answer and both
    # products' StockAdjusted appended with both rows written: one statement.
    assert sent[-3:] == ["SELECT", "WITH", "COMMIT"]
    assert sent.count("WITH") == 1
    reserved = await schema.pool.fetchval(
        f'SELECT count(*) FROM "{schema.name}".events WHERE stream_id = $1', f"reservation-{order}"
    )
    assert reserved == 1
    sent.clear()
    await handlers.release_stock(
        ReleaseStock(order_id=order, reason="payment_failed"),
        context_of(RELEASE_STOCK, str(order)),
    )
    assert sent[-3:] == ["SELECT", "WITH", "COMMIT"]
    for product, on_hand in ((oil, 20), (cheese, 10)):
        *_, released = await adjustments(schema, product)
        assert (released["available"], released["reserved"]) == (on_hand, 0)
        row = await schema.pool.fetchrow(
            f'SELECT on_hand, reserved, version FROM "{schema.name}".stock WHERE product_id = $1',
            product,
        )
        assert tuple(row) == (on_hand, 0, 3)  # listed, reserved, released: its stream's version
