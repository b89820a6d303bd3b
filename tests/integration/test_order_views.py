"""The orders read model on real PostgreSQL: an order's events folded into one write."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.eventstore.base import RecordedEvent
from runtime.eventstore.postgres import PostgresEventStore, connection_of
from services.order.views import OrderViews
from tests.conftest import Schema

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
async def views(schema: Schema) -> tuple[PostgresEventStore, OrderViews]:
    order_views = OrderViews(schema.name)
    async with schema.pool.acquire() as connection:
        await order_views.migrate(connection)
    return schema.store, order_views


def event(kind: str, version: int, **data: Any) -> RecordedEvent:
    return RecordedEvent(
        position=version,
        stream_id=f"order-{data['order_id']}",
        version=version,
        event_id=uuid.uuid4(),
        type=f"a4co.order.{kind}.v1",
        subject=f"order.{kind}.v1",
        payload=json.dumps(data, default=str).encode(),
        aggregate_id=str(data["order_id"]),
        headers={},
        recorded_at=AT,
    )


def history(order_id: uuid.UUID) -> list[RecordedEvent]:
    """Placed, waiting for payment, cancelled (its status and its reason)."""
    customer = uuid.uuid4()
    return [
        event(
            "created",
            1,
            order_id=order_id,
            customer_id=customer,
            items=[{"product_id": str(uuid.uuid4()), "quantity": 2}],
            total={"amount_minor": 1250, "currency": "EUR"},
            delivery={"method": "pickup"},
            placed_at=AT.isoformat(),
        ),
        event(
            "state_changed",
            2,
            order_id=order_id,
            customer_id=customer,
            from_status="pending",
            to_status="payment_pending",
            changed_at=(AT + timedelta(seconds=1)).isoformat(),
        ),
        event(
            "state_changed",
            3,
            order_id=order_id,
            customer_id=customer,
            from_status="payment_pending",
            to_status="cancelled",
            changed_at=(AT + timedelta(seconds=2)).isoformat(),
        ),
        event(
            "cancelled",
            4,
            order_id=order_id,
            customer_id=customer,
            reason="payment_failed",
            cancelled_at=(AT + timedelta(seconds=2)).isoformat(),
        ),
    ]


async def row(store: PostgresEventStore, views: OrderViews, order_id: uuid.UUID) -> tuple[Any, ...]:
    async with store.transaction() as tx:
        found = await connection_of(tx).fetchrow(
            f'SELECT status, cancel_reason, updated_at, version FROM "{views.schema}".orders_view'
            " WHERE order_id = $1",
            order_id,
        )
    return tuple(found) if found else ()


async def test_events_projected_together_or_one_by_one_give_the_same_row(
    views: tuple[PostgresEventStore, OrderViews],
) -> None:
    store, order_views = views
    together, apart = uuid.uuid4(), uuid.uuid4()
    async with store.transaction() as tx:
        assert len(order_views.statements(history(together))) == 1  # one write per order
        await order_views.project(tx, history(together))
        for one in history(apart):
            await order_views.project(tx, [one])
    expected = ("cancelled", "payment_failed", AT + timedelta(seconds=2), 3)
    assert await row(store, order_views, together) == expected
    assert await row(store, order_views, apart) == expected


async def test_a_late_older_event_moves_no_status_back(
    views: tuple[PostgresEventStore, OrderViews],
) -> None:
    store, order_views = views
    order_id = uuid.uuid4()
    created, pending, cancelled, reason = history(order_id)
    async with store.transaction() as tx:
        await order_views.project(tx, [created, cancelled])
        await order_views.project(tx, [pending, reason])  # version 2 after version 3
    assert await row(store, order_views, order_id) == (
        "cancelled",
        "payment_failed",
        AT + timedelta(seconds=2),
        3,
    )


async def test_events_of_two_orders_are_two_writes(
    views: tuple[PostgresEventStore, OrderViews],
) -> None:
    store, order_views = views
    first, second = uuid.uuid4(), uuid.uuid4()
    events = history(first)[:2] + history(second)[:1]
    async with store.transaction() as tx:
        assert len(order_views.statements(events)) == 2
        await order_views.project(tx, events)
    assert (await row(store, order_views, first))[::3] == ("payment_pending", 2)
    assert (await row(store, order_views, second))[::3] == ("pending", 1)
