"""The order-creation saga end to end: order, inventory, payment and user on real servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import ArtisanVerified
from generated.order.models import CancelOrderRequest
from runtime.http import ProblemError
from tests.e2e.harness import InProcessPlatform, eventually
from tests.e2e.story import Story


@pytest.fixture
async def story(saga_platform: InProcessPlatform, database_url: str) -> AsyncIterator[Story]:
    s = Story.of(saga_platform, database_url)
    yield s
    await s.aclose()


async def order_events(story: Story, order_id: uuid.UUID) -> list[str]:
    rows = await story.sql(
        'SELECT type FROM "order".events WHERE stream_id = $1 ORDER BY version', f"order-{order_id}"
    )
    return [r["type"].removeprefix("a4co.") for r in rows]


async def order_statuses(story: Story, order_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await story.sql(
        'SELECT payload FROM "order".events WHERE stream_id = $1 AND type = $2 ORDER BY version',
        f"order-{order_id}",
        "a4co.order.state_changed.v1",
    )
    changes = [json.loads(r["payload"]) for r in rows]  # asyncpg reads jsonb as text
    return [(c["from_status"], c["to_status"]) for c in changes]


async def test_happy_path_confirms_commits_stock_and_splits_payment(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=10, price_minor=1250)
    placed = await story.place(customer, product, quantity=2)
    assert placed.status == "pending" and placed.total.amount_minor == 2500
    order = await story.settled(placed.order_id)
    assert order.status == "confirmed"
    # the POST's answer (built, not read back) is what the read model holds
    assert placed.model_dump(exclude={"status", "updated_at"}) == order.model_dump(
        exclude={"status", "updated_at"}
    )
    assert placed.updated_at == placed.placed_at < order.updated_at
    await story.stock_becomes(product, (8, 0))
    (payment,) = (await story.payments.list_payments(order_id=order.order_id)).items
    assert payment.status == "succeeded" and payment.amount.amount_minor == 2500
    assert payment.splits is not None
    assert [
        (s.tier, s.marketplace_fee.amount_minor, s.net.amount_minor) for s in payment.splits
    ] == [("basic", 300, 2200)]
    assert await order_events(story, order.order_id) == [
        "order.created.v1",
        "inventory.cmd.reserve_stock.v1",
        "payment.cmd.process_payment.v1",
        "order.state_changed.v1",
        "inventory.cmd.commit_stock.v1",
        "order.confirmed.v1",
    ]
    # each status announced is one the order rested in, none fleeting; the move to
    # confirmed is OrderConfirmed's alone, so no consumer hears of it twice
    assert await order_statuses(story, order.order_id) == [("pending", "payment_pending")]


async def test_an_artisan_verified_at_premium_pays_the_premium_fee(story: Story) -> None:
    artisan = uuid.uuid4()
    await ArtisanPublisher(story.bus).artisan_verified(
        ArtisanVerified(
            artisan_id=artisan,
            user_id=artisan,
            verification_level="premium",
            province="jaen",
            verified_at=datetime.now(UTC),
        ),
        aggregate_id=str(artisan),
    )
    await eventually(
        lambda: story.sql("SELECT 1 FROM payment.artisan_tiers WHERE artisan_id = $1", artisan)
    )
    customer = await story.customer()
    product = await story.product(stock=5, price_minor=1250, artisan_id=artisan)

    order = await story.settled((await story.place(customer, product, quantity=2)).order_id)

    (payment,) = (await story.payments.list_payments(order_id=order.order_id)).items
    assert payment.splits is not None
    assert [
        (s.tier, s.marketplace_fee.amount_minor, s.net.amount_minor) for s in payment.splits
    ] == [("premium", 250, 2250)]


async def test_an_order_for_an_unknown_customer_is_refused(story: Story) -> None:
    # A customer's own token proves the registration (auth signs only registered logins);
    # an admin ordering on someone's behalf is checked with the user service.
    product = await story.product(stock=1)
    with pytest.raises(ProblemError) as caught:
        await story.place(uuid.uuid4(), product, as_admin=True)
    assert caught.value.status == 422 and "not registered" in (caught.value.problem.detail or "")


async def test_out_of_stock_rejects_the_order_and_keeps_the_stock(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=1)
    order = await story.settled((await story.place(customer, product, quantity=3)).order_id)
    assert order.status == "rejected" and order.cancel_reason == "out_of_stock"
    assert await story.available(product) == (1, 0)


async def test_failed_payment_releases_stock_and_cancels(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=5)
    placed = await story.place(customer, product, quantity=2, card="tok_declined")
    order = await story.settled(placed.order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "payment_failed")
    assert await story.available(product) == (5, 0)
    (payment,) = (await story.payments.list_payments(order_id=order.order_id)).items
    assert (payment.status, payment.failure_reason) == ("failed", "card_declined")


async def test_payment_without_answer_times_out_into_compensation(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=5)
    placed = await story.place(customer, product, quantity=1, card="tok_timeout")
    await story.settled(placed.order_id, "payment_pending")
    assert await story.available(product) == (4, 1)
    order = await story.settled(placed.order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "payment_timeout")
    assert await story.available(product) == (5, 0)


async def test_customer_cancels_before_payment(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=5)
    placed = await story.place(customer, product, quantity=1, card="tok_timeout")
    await story.settled(placed.order_id, "payment_pending")
    await story.orders.cancel_order(placed.order_id, CancelOrderRequest(reason="Changed my mind."))
    order = await story.settled(placed.order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "customer_cancelled")
    assert await story.available(product) == (5, 0)
    with pytest.raises(ProblemError) as caught:
        await story.orders.cancel_order(placed.order_id, CancelOrderRequest())
    assert caught.value.status == 409


async def test_threshold_reached_when_stock_drops_under_it(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=5, threshold=3)
    await story.settled((await story.place(customer, product, quantity=3)).order_id, "confirmed")
    rows = await story.sql(
        "SELECT payload FROM inventory.events WHERE stream_id = $1 AND type = $2",
        f"stock-{product}",
        "a4co.inventory.stock_threshold_reached.v1",
    )
    (threshold,) = [json.loads(r["payload"]) for r in rows]
    assert (threshold["level"], threshold["threshold"]) == (2, 3)


async def test_concurrent_orders_on_one_product_never_oversell(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=6)
    placed = await asyncio.gather(*(story.place(customer, product) for _ in range(15)))
    orders = await asyncio.gather(*(story.settled(p.order_id) for p in placed))
    statuses = sorted(o.status for o in orders)
    assert statuses.count("confirmed") == 6 and statuses.count("rejected") == 9
    await story.stock_becomes(product, (0, 0))


async def test_rebuilding_the_orders_read_model_gives_the_same_rows(
    story: Story, saga_platform: InProcessPlatform
) -> None:
    customer, product = await story.customer(), await story.product(stock=3)
    await story.settled((await story.place(customer, product)).order_id)
    query = 'SELECT * FROM "order".orders_view ORDER BY order_id'
    before = await story.sql(query)
    order_host = saga_platform.services["order"].host
    assert order_host.context is not None
    from services.order.views import OrderViews

    async with order_host.context.transaction() as tx:
        applied = await OrderViews("order").rebuild(tx)
    assert applied > 0
    assert await story.sql(query) == before


async def test_list_orders_pages_newest_first(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=10)
    ids = [(await story.place(customer, product)).order_id for _ in range(3)]
    first = await story.orders.list_orders(customer_id=customer, limit=2)
    assert [o.order_id for o in first.items] == ids[::-1][:2] and first.next_cursor
    second = await story.orders.list_orders(customer_id=customer, limit=2, cursor=first.next_cursor)
    assert [o.order_id for o in second.items] == ids[:1] and second.next_cursor is None
    await asyncio.gather(*(story.settled(i) for i in ids))  # leave nothing in flight


async def test_one_trace_spans_the_whole_saga_and_metrics_count_it(story: Story) -> None:
    customer, product = await story.customer(), await story.product(stock=2)
    order = await story.settled((await story.place(customer, product)).order_id, "confirmed")
    rows = await story.sql('SELECT data FROM "order".sagas WHERE saga_id = $1', str(order.order_id))
    correlation = json.loads(rows[0]["data"])["correlation_id"]
    traces = set()
    for schema in ("order", "inventory", "payment"):
        for row in await story.sql(
            f"SELECT headers FROM \"{schema}\".events WHERE headers->>'correlation-id' = $1",
            correlation,
        ):
            traces.add(json.loads(row["headers"])["traceparent"].split("-")[1])
    assert len(traces) == 1, "every message of the flow continues one trace"
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{story.urls['order']}/metrics")).text
    acked = 'operation="receivePaymentSucceeded",outcome="ack",service="order"'
    assert f"a4co_handler_outcomes_total{{{acked}}}" in metrics
    assert "a4co_handler_seconds_bucket" in metrics and "a4co_outbox_backlog" in metrics
    assert await eventually(lambda: _has_saga_gauge(story), timeout=10)


async def _has_saga_gauge(story: Story) -> bool:
    async with httpx.AsyncClient() as http:
        return (
            'a4co_sagas{service="order",step="done"}'
            in (await http.get(f"{story.urls['order']}/metrics")).text
        )
