"""Redelivery, malformed messages and concurrency across the saga's services."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable

import pytest

from runtime.bus.dlq import DeadLetter, list_dead_letters
from tests.e2e.harness import InProcessPlatform, eventually
from tests.e2e.story import Story

SCHEMAS = ("order", "inventory", "payment")


@pytest.fixture
async def story(saga_platform: InProcessPlatform, database_url: str) -> AsyncIterator[Story]:
    s = Story.of(saga_platform, database_url)
    yield s
    await s.aclose()


async def flow_messages(
    story: Story, correlation_id: str
) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every message the services sent for one business flow, from their outboxes."""
    out = []
    for schema in SCHEMAS:
        rows = await story.sql(
            f'SELECT subject, payload, headers FROM "{schema}".events'
            " WHERE headers->>'correlation-id' = $1 ORDER BY position",
            correlation_id,
        )
        out += [(r["subject"], r["payload"].encode(), json.loads(r["headers"])) for r in rows]
    return out


async def state_of(story: Story, order_id: uuid.UUID, product: uuid.UUID) -> dict[str, object]:
    """Everything a duplicate could change."""
    counts = {}
    for schema in SCHEMAS:
        rows = await story.sql(f'SELECT count(*) AS n FROM "{schema}".events')
        counts[schema] = rows[0]["n"]
    order = await story.orders.get_order(order_id)
    payments = await story.payments.list_payments(order_id=order_id)
    return {
        "events": counts,
        "status": order.status,
        "stock": await story.available(product),
        "payments": [(p.payment_id, p.status) for p in payments.items],
    }


async def consumers_idle(story: Story, services: Iterable[str]) -> bool:
    """True when no durable consumer of `services` has messages pending or unacked.

    Only the running services' durables count: other test modules leave durables of
    services that are not running here (shipping, analytics...) with messages pending.
    """
    assert story.nc is not None
    js = story.nc.jetstream()
    prefixes = tuple(f"{name}_" for name in services)
    for stream in ("ORDER", "INVENTORY", "PAYMENT"):
        for info in await js.consumers_info(stream):
            mine = info.config.durable_name or info.name
            if mine.startswith(prefixes) and (info.num_pending or info.num_ack_pending):
                return False
    return True


async def test_every_message_of_a_saga_delivered_twice_is_applied_once(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=5)
    order = await story.settled((await story.place(customer, product, quantity=2)).order_id)
    assert order.status == "confirmed"
    rows = await story.sql('SELECT data FROM "order".sagas WHERE saga_id = $1', str(order.order_id))
    correlation = json.loads(rows[0]["data"])["correlation_id"]
    messages = await flow_messages(story, correlation)
    assert len(messages) >= 10  # created, commands, answers, state changes, split...
    await eventually(lambda: consumers_idle(story, story.urls))
    before = await state_of(story, order.order_id, product)
    assert story.nc is not None
    js = story.nc.jetstream()
    for subject, payload, headers in messages:  # same ce-id, new Nats-Msg-Id: past JetStream dedupe
        await js.publish(subject, payload, headers={**headers, "Nats-Msg-Id": str(uuid.uuid4())})
    await eventually(lambda: consumers_idle(story, story.urls))
    assert await state_of(story, order.order_id, product) == before


async def test_malformed_command_goes_to_the_dlq_and_the_consumer_goes_on(story: Story) -> None:
    assert story.nc is not None
    js = story.nc.jetstream()
    marker = str(uuid.uuid4())
    headers = {
        "ce-id": marker,
        "ce-type": "a4co.inventory.cmd.reserve_stock.v1",
        "ce-source": "/services/order",
        "ce-time": "2026-11-28T10:00:00Z",
        "ce-subject": marker,
        "ce-specversion": "1.0",
        "correlation-id": marker,
        "Nats-Msg-Id": marker,
    }
    await js.publish(
        "inventory.cmd.reserve_stock.v1", b'{"order_id": "not-a-uuid"}', headers=headers
    )

    async def dead() -> list[DeadLetter]:
        letters = await list_dead_letters(js, service="inventory", limit=1000)
        return [d for d in letters if d.headers.get("ce-id") == marker]

    (letter,) = await eventually(dead)
    assert letter.original_subject == "inventory.cmd.reserve_stock.v1"
    assert letter.consumer == "inventory_reserve_stock" and letter.attempts == 1
    assert "order_id" in letter.error
    customer, product = await story.customer(), await story.product(stock=1)
    assert (
        await story.settled((await story.place(customer, product)).order_id)
    ).status == "confirmed"


async def test_an_order_asked_to_reserve_twice_under_two_ids_holds_its_stock_once(
    story: Story,
) -> None:
    # Two ReserveStock for one order that the inbox cannot tell apart (two message ids),
    # handled concurrently: the order's reservation row is claimed once, so the stock is
    # held once and StockReserved is said once.
    customer, product = await story.customer(), await story.product(stock=9)
    order = await story.settled((await story.place(customer, product, quantity=2)).order_id)
    rows = await story.sql('SELECT data FROM "order".sagas WHERE saga_id = $1', str(order.order_id))
    correlation = json.loads(rows[0]["data"])["correlation_id"]
    (command,) = [
        m for m in await flow_messages(story, correlation) if m[0].startswith("inventory.cmd.res")
    ]
    await eventually(lambda: consumers_idle(story, story.urls))
    before = await story.available(product)
    other = str(uuid.uuid4())  # an order the saga does not know: it leaves the stock held
    body = json.loads(command[1]) | {"order_id": other}
    assert story.nc is not None
    js = story.nc.jetstream()
    for _ in range(2):
        headers = {**command[2], "ce-id": str(uuid.uuid4()), "ce-subject": other}
        await js.publish(
            command[0],
            json.dumps(body).encode(),
            headers={**headers, "Nats-Msg-Id": str(uuid.uuid4())},
        )
    await eventually(lambda: consumers_idle(story, story.urls))
    assert await story.available(product) == (before[0] - 2, before[1] + 2)
    said = await story.sql(
        'SELECT type FROM "inventory".events WHERE stream_id = $1', f"reservation-{other}"
    )
    assert [r["type"] for r in said] == ["a4co.inventory.stock_reserved.v1"]


async def test_an_order_asked_to_pay_twice_under_two_ids_is_charged_once(story: Story) -> None:
    # Two ProcessPayment for one order that the inbox cannot tell apart (two message ids),
    # handled concurrently: the order's payment row is claimed once, before any charge.
    customer, product = await story.customer(), await story.product(stock=9)
    order = await story.settled((await story.place(customer, product)).order_id)
    rows = await story.sql('SELECT data FROM "order".sagas WHERE saga_id = $1', str(order.order_id))
    correlation = json.loads(rows[0]["data"])["correlation_id"]
    (command,) = [
        m for m in await flow_messages(story, correlation) if m[0].startswith("payment.cmd.pro")
    ]
    await eventually(lambda: consumers_idle(story, story.urls))
    other = uuid.uuid4()  # an order the saga does not know: it ignores the outcome
    body = json.loads(command[1]) | {"order_id": str(other)}
    assert story.nc is not None
    js = story.nc.jetstream()
    for _ in range(2):
        headers = {**command[2], "ce-id": str(uuid.uuid4()), "ce-subject": str(other)}
        await js.publish(
            command[0],
            json.dumps(body).encode(),
            headers={**headers, "Nats-Msg-Id": str(uuid.uuid4())},
        )
    await eventually(lambda: consumers_idle(story, story.urls))
    payments = await story.sql("SELECT payment_id FROM payment.payments WHERE order_id = $1", other)
    assert len(payments) == 1
    said = await story.sql(
        "SELECT type FROM payment.events WHERE stream_id = $1 ORDER BY version",
        f"payment-{payments[0]['payment_id']}",
    )
    assert [r["type"] for r in said] == [
        "a4co.payment.initiated.v1",
        "a4co.payment.succeeded.v1",
        "a4co.payment.split_created.v1",
    ]
    initiated = await story.sql(
        "SELECT count(*) AS n FROM payment.events WHERE type = 'a4co.payment.initiated.v1'"
        " AND payload->>'order_id' = $1",
        str(other),
    )
    assert initiated[0]["n"] == 1
