"""Faults mid-saga with every service in its own process: nothing lost, nothing doubled.

Slow (each test starts its own servers and four service processes): `make test-slow`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest

from a4co.launcher import Platform
from tests.e2e.harness import serve_jwks
from tests.e2e.story import Story

pytestmark = pytest.mark.slow
ORDERS = 12
SERVICES = ["user", "inventory", "payment", "order"]


@pytest.fixture
async def launched(tmp_path: Path) -> AsyncIterator[tuple[Platform, Story]]:
    """Embedded servers of its own and the four saga services as processes."""
    async with serve_jwks() as jwks_url:
        platform = Platform(
            SERVICES,
            data_dir=tmp_path / "a4co",
            env={
                "A4CO_NATS_URL": "",
                "A4CO_DATABASE_URL": "",
                "A4CO_REDIS_URL": "",
                "A4CO_JWKS_URL": jwks_url,
            },
        )
        async for pair in _running(platform):
            yield pair


async def _running(platform: Platform) -> AsyncIterator[tuple[Platform, Story]]:
    await asyncio.to_thread(platform.start)
    nc = await nats.connect(
        platform.infra.nats_url or "", max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    story = Story(platform.urls, nc, platform.infra.database_url or "")
    try:
        yield platform, story
    finally:
        await story.aclose()
        await nc.close()
        await asyncio.to_thread(platform.stop)


async def run_orders_through(story: Story, fault: Callable[[], object]) -> None:
    """Place orders, inject `fault` while they are in flight, then check every outcome."""
    customer, product = await story.customer(), await story.product(stock=100)
    placed = [await story.place(customer, product, quantity=2) for _ in range(ORDERS)]
    await asyncio.to_thread(fault)
    orders = await asyncio.gather(*(story.settled(p.order_id, timeout=90) for p in placed))
    assert [o.status for o in orders] == ["confirmed"] * ORDERS
    await story.stock_becomes(product, (100 - 2 * ORDERS, 0))
    for order in orders:
        payments = (await story.payments.list_payments(order_id=order.order_id)).items
        assert [p.status for p in payments] == ["succeeded"]
        confirmed = await story.sql(
            'SELECT count(*) AS n FROM "order".events WHERE stream_id = $1 AND type = $2',
            f"order-{order.order_id}",
            "a4co.order.confirmed.v1",
        )
        assert confirmed[0]["n"] == 1


@pytest.mark.parametrize("victim", ["order", "payment", "inventory"])
async def test_killed_service_restarts_and_the_saga_completes(
    launched: tuple[Platform, Story], victim: str
) -> None:
    platform, story = launched

    def kill_and_restart() -> None:
        platform.kill(victim)
        platform.start_service(victim)

    await run_orders_through(story, kill_and_restart)


async def test_nats_restart_mid_saga_loses_and_doubles_nothing(
    launched: tuple[Platform, Story],
) -> None:
    platform, story = launched
    await run_orders_through(story, platform.restart_nats)
    customer, product = await story.customer(), await story.product(stock=1)
    after = await story.settled((await story.place(customer, product)).order_id)
    assert after.status == "confirmed", "the platform keeps working after the restart"
