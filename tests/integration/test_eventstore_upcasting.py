"""Event-sourced history stays readable, on a real PostgreSQL: an order stream written with
v1 of an event is loaded, after v2 ships, as v2, by the aggregate and by a rebuilt
projection alike, while the stored rows stay v1 (upcast on load, never rewritten).

The v2 here is the test's own (`order.placed.v2` moves the total into a Money object): the
mechanism is the generic one (`runtime.upcasting.Upcasters` given to the store), the same
the platform's `generated.versions.STEPS` feed through `ServiceDefinition.versions`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from runtime.eventstore.base import NewEvent, RecordedEvent, Transaction
from runtime.eventstore.postgres import PostgresEventStore, connection_of
from runtime.upcasting import Upcasters, VersionStep

V1, V2 = "order.placed.v1", "order.placed.v2"


def money_total(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2, a change of shape the owner writes: `total_minor` becomes Money."""
    rest = {k: v for k, v in payload.items() if k != "total_minor"}
    return {**rest, "total": {"amount_minor": payload["total_minor"], "currency": "EUR"}}


UPCASTERS = Upcasters([VersionStep(V1, V2, convert=money_total)])


def placed_v1(order_id: str, total_minor: int) -> NewEvent:
    return NewEvent(
        type=f"a4co.{V1}",
        subject=V1,
        payload=json.dumps({"order_id": order_id, "total_minor": total_minor}).encode(),
        aggregate_id=order_id,
    )


def placed_v2(order_id: str, amount_minor: int) -> NewEvent:
    total = {"amount_minor": amount_minor, "currency": "EUR"}
    return NewEvent(
        type=f"a4co.{V2}",
        subject=V2,
        payload=json.dumps({"order_id": order_id, "total": total}).encode(),
        aggregate_id=order_id,
    )


@dataclass
class Order:
    """An aggregate that knows only v2: it fails on any other version."""

    order_id: str = ""
    total: int = 0
    placed: int = 0

    def apply(self, event: RecordedEvent) -> None:
        assert event.type == f"a4co.{V2}", f"the aggregate was handed {event.type}"
        payload = event.json()
        assert isinstance(payload, dict)
        self.order_id = payload["order_id"]
        self.total += payload["total"]["amount_minor"]
        self.placed += 1


async def load(tx: Transaction, stream: str) -> Order:
    order = Order()
    for event in await tx.load(stream):
        order.apply(event)
    return order


async def rebuild_totals(store: PostgresEventStore) -> None:
    """A projection rebuilt from zero: every event, in position order, into its table."""

    async def truncate(tx: Transaction) -> None:
        await connection_of(tx).execute(f'TRUNCATE "{store.schema}".order_totals')

    await store.rebuild("order_totals", truncate)
    async with store.transaction() as tx:
        position = await tx.checkpoint("order_totals")
        while events := await tx.read_all(position, limit=2):
            for event in events:
                payload = event.json()
                assert isinstance(payload, dict)
                await connection_of(tx).execute(
                    f'INSERT INTO "{store.schema}".order_totals VALUES ($1, $2, $3, $4)',
                    payload["order_id"],
                    event.type,
                    payload["total"]["amount_minor"],
                    payload["total"]["currency"],
                )
                position = event.position
            await tx.set_checkpoint("order_totals", position)


@pytest.fixture
async def pool(database_url: str, unique_id: str) -> AsyncIterator[Any]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    schema = f"up_{unique_id}"
    try:
        await PostgresEventStore(pool, schema).migrate()
        await pool.execute(
            f'CREATE TABLE "{schema}".order_totals'
            " (order_id text, type text, amount_minor bigint, currency text)"
        )
        yield pool
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def test_v1_history_loads_as_v2_in_the_aggregate_and_a_rebuilt_projection(
    pool: Any, unique_id: str
) -> None:
    schema, order_id = f"up_{unique_id}", str(uuid.uuid4())
    stream = f"order-{order_id}"
    before = PostgresEventStore(pool, schema)  # the service before v2 shipped
    await before.append(stream, 0, [placed_v1(order_id, 1200), placed_v1(order_id, 300)])

    after = PostgresEventStore(pool, schema, UPCASTERS)  # v2 shipped, with its upcaster
    await after.append(stream, 2, [placed_v2(order_id, 45)])
    async with after.transaction() as tx:
        order = await load(tx, stream)
    await rebuild_totals(after)

    assert (order.order_id, order.total, order.placed) == (order_id, 1545, 3)
    rows = await pool.fetch(f'SELECT * FROM "{schema}".order_totals ORDER BY amount_minor DESC')
    assert [tuple(r) for r in rows] == [
        (order_id, f"a4co.{V2}", 1200, "EUR"),
        (order_id, f"a4co.{V2}", 300, "EUR"),
        (order_id, f"a4co.{V2}", 45, "EUR"),
    ]
    stored = await pool.fetch(
        f'SELECT subject FROM "{schema}".events WHERE stream_id = $1 ORDER BY version', stream
    )
    assert [r["subject"] for r in stored] == [V1, V1, V2]  # history itself is never rewritten


async def test_without_the_upcaster_the_v2_aggregate_refuses_v1_history(
    pool: Any, unique_id: str
) -> None:
    schema, order_id = f"up_{unique_id}", str(uuid.uuid4())
    store = PostgresEventStore(pool, schema)
    await store.append(f"order-{order_id}", 0, [placed_v1(order_id, 1200)])

    async with store.transaction() as tx:
        with pytest.raises(AssertionError, match=f"handed a4co.{V1}"):
            await load(tx, f"order-{order_id}")
