"""The saga's services as processes (as `make run` starts them): an order is confirmed,
a failing card cancels and gives the stock back."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from a4co.launcher import Platform
from tests.e2e.harness import embedded_env, serve_jwks
from tests.e2e.story import Story

SAGA_SERVICES = ["user", "inventory", "payment", "order"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def run_story() -> AsyncIterator[Story]:
    """The saga's services as processes, on embedded servers of their own."""
    with tempfile.TemporaryDirectory(prefix="a4co-run-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                SAGA_SERVICES,
                data_dir=Path(folder),
                env=embedded_env(jwks_url),
            )
            await asyncio.to_thread(platform.start)
            try:
                nc = await nats.connect(platform.infra.nats_url or "")
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                yield story
                await story.aclose()
                await nc.close()
            finally:
                await asyncio.to_thread(platform.stop)


async def test_order_for_an_active_customer_with_stock_is_confirmed(run_story: Story) -> None:
    customer, product = await run_story.customer(), await run_story.product(stock=3)
    order = await run_story.settled((await run_story.place(customer, product)).order_id)
    assert order.status == "confirmed"
    await run_story.stock_becomes(product, (2, 0))


async def test_failing_card_ends_cancelled_and_the_stock_is_back(run_story: Story) -> None:
    customer, product = await run_story.customer(), await run_story.product(stock=3)
    placed = await run_story.place(customer, product, quantity=2, card="tok_declined")
    order = await run_story.settled(placed.order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "payment_failed")
    assert await run_story.available(product) == (3, 0)
