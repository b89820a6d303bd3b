"""The saga's services on a three-node NATS cluster (`a4co up --nats-cluster 3`): orders settle
before and after `kill -9` of the server that leads the order stream."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from uuid import UUID

import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from a4co.launcher import Platform
from runtime.bus.nats_connect import connect, server_urls
from tests.e2e.harness import embedded_env, eventually, serve_jwks
from tests.e2e.story import Story

SERVICES = ("user", "inventory", "payment", "order")
ORDERS = 8

pytestmark = pytest.mark.slow


async def test_orders_settle_on_a_cluster_that_loses_the_order_streams_leader() -> None:
    with tempfile.TemporaryDirectory(prefix="a4co-cluster-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                SERVICES,
                data_dir=Path(folder),
                nats_cluster=3,
                ready_timeout=120.0,
                env=embedded_env(jwks_url),
            )
            await asyncio.to_thread(platform.start)
            try:
                nc = await connect(
                    platform.infra.nats_url or "",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.2,
                )
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                try:
                    await _place_kill_and_place(platform, story, nc)
                finally:
                    await story.aclose()
                    await nc.close()
            finally:
                await asyncio.to_thread(platform.stop)


async def _place_kill_and_place(platform: Platform, story: Story, nc: Client) -> None:
    cluster = platform.nats_cluster
    assert cluster is not None
    assert len(server_urls(platform.bus_url("order"))) == 3  # each service is given every node
    js = nc.jetstream()
    info = await js.stream_info("ORDER")
    assert info.config.num_replicas == 3
    assert info.cluster is not None and info.cluster.leader is not None
    old = info.cluster.leader

    customer, product = await story.customer(), await story.product(stock=2 * ORDERS)
    await _settle(story, customer, product)

    cluster.node(old).kill()

    async def new_leader() -> bool:
        try:
            current = await js.stream_info("ORDER")
        except (NatsError, TimeoutError):
            return False
        return current.cluster is not None and current.cluster.leader not in (None, old)

    await eventually(new_leader, timeout=60, interval=0.2)
    await _settle(story, customer, product)
    await story.stock_becomes(product, (0, 0))


async def _settle(story: Story, customer: UUID, product: UUID) -> None:
    placed = await asyncio.gather(*(story.place(customer, product) for _ in range(ORDERS)))
    orders = await asyncio.gather(*(story.settled(o.order_id, timeout=120) for o in placed))
    assert [order.status for order in orders] == ["confirmed"] * ORDERS
