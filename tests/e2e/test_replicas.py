"""Two order processes on the same durable consumers (`a4co up --replicas order=2`): they
share the work, every order settles once, and nothing is handled twice."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import nats
import pytest

from a4co.cli.running import with_replicas
from a4co.launcher import Platform
from tests.e2e.harness import embedded_env, eventually, serve_jwks
from tests.e2e.story import Story

ORDERS = 16
HANDLED = re.compile(r'^a4co_handler_outcomes_total\{[^}]*outcome="ack"[^}]*\} (\S+)$', re.M)

pytestmark = pytest.mark.slow


async def handled(url: str) -> float:
    """Messages the process at `url` handled and acked, from its /metrics."""
    async with httpx.AsyncClient(trust_env=False) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(float(value) for value in HANDLED.findall(text))


async def confirmations(nc: nats.NATS, order_ids: set[str]) -> Counter[str]:
    """OrderConfirmed messages on the order stream, per order of `order_ids`."""
    js = nc.jetstream()
    sub = await js.pull_subscribe("order.confirmed.v1", durable=None, stream="ORDER")
    seen: Counter[str] = Counter()
    try:
        while (await sub.consumer_info()).num_pending:
            for message in await sub.fetch(100, timeout=5):
                subject = (message.headers or {}).get("ce-subject", "")
                if subject in order_ids:
                    seen[subject] += 1
                await message.ack()
    finally:
        await sub.unsubscribe()
    return seen


async def test_two_order_processes_share_the_work_and_confirm_each_order_once() -> None:
    services = with_replicas(
        {name: f"services.{name}" for name in ("user", "inventory", "payment", "order")},
        "order=2",
    )
    with tempfile.TemporaryDirectory(prefix="a4co-replicas-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                services,
                data_dir=Path(folder),
                env=embedded_env(jwks_url),
            )
            await asyncio.to_thread(platform.start)
            try:
                nc = await nats.connect(platform.infra.nats_url or "")
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                try:
                    await _place_and_check(platform, story, nc)
                finally:
                    await story.aclose()
                    await nc.close()
            finally:
                await asyncio.to_thread(platform.stop)


async def _place_and_check(platform: Platform, story: Story, nc: nats.NATS) -> None:
    assert platform.modules["order_2"] == "services.order"
    customer, product = await story.customer(), await story.product(stock=ORDERS)
    placed = await asyncio.gather(*(story.place(customer, product) for _ in range(ORDERS)))
    orders = await asyncio.gather(*(story.settled(o.order_id, timeout=60) for o in placed))
    assert [order.status for order in orders] == ["confirmed"] * ORDERS
    order_ids = {str(order.order_id) for order in orders}

    # Both processes took messages from the shared durables.
    assert await handled(platform.urls["order"]) > 0
    assert await handled(platform.urls["order_2"]) > 0

    # One OrderConfirmed per order: in the event store, and on the stream once published.
    rows = await story.sql(
        'SELECT aggregate_id, count(*) AS n FROM "order".events'
        " WHERE subject = 'order.confirmed.v1' AND aggregate_id = ANY($1::text[])"
        " GROUP BY aggregate_id",
        list(order_ids),
    )
    assert {row["aggregate_id"]: row["n"] for row in rows} == dict.fromkeys(order_ids, 1)

    async def all_published() -> Counter[str] | None:
        seen = await confirmations(nc, order_ids)
        return seen if set(seen) == order_ids else None

    seen = await eventually(all_published, timeout=30, interval=0.5)
    assert set(seen.values()) == {1}
    await story.stock_becomes(product, (0, 0))
