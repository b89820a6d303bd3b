"""The catalog's Live and Order trace pages on a launched platform: the saga's services run as
processes recording every trace, a real Prometheus scrapes them with the generated rules, and
the static server of `a4co up` serves the pages. While orders flow, the live page shows
traffic from order to inventory, sagas done, each durable's lag and placeOrder's objective
judged; the trace page shows an order's saga hop by hop, in causal order."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest

from a4co.cli.static import StaticServer
from a4co.infra.prometheus import EmbeddedPrometheus, find_prometheus
from a4co.launcher import Platform
from runtime.spans import TRACE_FILE, TRACE_RATIO_ENV
from tests.e2e.harness import embedded_env, eventually, serve_jwks
from tests.e2e.story import Story
from tests.e2e.test_order_trace import HOPS, SAGA_SERVICES

pytestmark = pytest.mark.slow

MISSING = "prometheus is not installed: run `sudo make install-prometheus`"
DEADLINE_MS = 120_000


@dataclass
class Launched:
    """The running saga, the static server's URL, and the orders placed so far."""

    story: Story
    url: str
    placed: list[UUID]


@pytest.fixture(scope="module")
async def launched() -> AsyncIterator[Launched]:
    binary = find_prometheus()
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    with tempfile.TemporaryDirectory(prefix="a4co-live-") as folder:
        data_dir = Path(folder)
        async with serve_jwks() as jwks_url:
            platform = Platform(
                SAGA_SERVICES,
                data_dir=data_dir,
                env=embedded_env(jwks_url, **{TRACE_RATIO_ENV: "1"}),
            )
            await asyncio.to_thread(platform.start)
            prometheus = EmbeddedPrometheus(binary, data_dir / "prometheus", platform.urls)
            static: StaticServer | None = None
            try:
                await asyncio.to_thread(prometheus.start)
                static = StaticServer(
                    None, prometheus_url=prometheus.url, trace_file=data_dir / TRACE_FILE
                ).start()
                nc = await nats.connect(platform.infra.nats_url or "")
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                yield Launched(story, static.url, [])
                await story.aclose()
                await nc.close()
            finally:
                if static is not None:
                    static.stop()
                prometheus.stop()
                await asyncio.to_thread(platform.stop)


async def _keep_ordering(launched: Launched, stop: asyncio.Event) -> None:
    """Place orders one after another until told to stop, so the graph has traffic now."""
    story = launched.story
    customer, product = await story.customer(), await story.product(stock=10_000)
    while not stop.is_set():
        launched.placed.append((await story.place(customer, product)).order_id)


@contextlib.asynccontextmanager
async def _orders_flowing(launched: Launched) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_keep_ordering(launched, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _wait_for(page: Any, script: str) -> None:
    await page.wait_for_function(script, timeout=DEADLINE_MS, polling=500)


async def test_live_page_shows_the_saga_running(page: Any, launched: Launched) -> None:
    await page.goto(f"{launched.url}/catalog/live.html")
    async with _orders_flowing(launched):
        await _wait_for(
            page,
            """() => document.querySelector('#service-graph .edge.busy'
                + '[data-from="order"][data-to="inventory"] text.traffic')""",
        )
        await _wait_for(
            page, """() => document.querySelector('#saga-table tr[data-step="done"]')"""
        )
        await _wait_for(
            page,
            """() => ["met", "burning"].includes(document.querySelector(
                'tr[data-key="slo:http:order:placeOrder"]')?.dataset.state)""",
        )
    label = page.locator('.edge[data-from="order"][data-to="inventory"] text.traffic')
    assert (await label.text_content() or "").endswith("/s")
    done = await page.locator('#saga-table tr[data-step="done"] td').all_text_contents()
    assert done[:2] == ["order", "done"] and int(done[2]) >= 1
    lag = page.locator('tr[data-key="durable:inventory_reserve_stock"] .lag')
    assert (await lag.text_content() or "").isdigit()
    assert await page.locator("#live-status").get_attribute("data-state") == "ok"


async def test_trace_page_shows_an_orders_saga_hop_by_hop(page: Any, launched: Launched) -> None:
    story = launched.story
    customer, product = await story.customer(), await story.product(stock=3)
    placed = await story.place(customer, product)
    assert (await story.settled(placed.order_id)).status == "confirmed"

    async def complete() -> list[str] | None:  # spans reach the file in batches
        await page.goto(f"{launched.url}/catalog/trace.html?order={placed.order_id}")
        await page.locator('#trace-status:not([data-state="asking"])').wait_for()
        hops: list[str] = await page.locator("#trace-result .hop").evaluate_all(
            """(hops) => hops.map((h) => h.querySelector('.service').textContent + ': '
                + h.querySelector('.name').textContent)"""
        )
        return hops if set(HOPS) <= set(hops) else None

    hops = await eventually(complete, timeout=60.0, interval=1.0)
    positions = [hops.index(hop) for hop in HOPS]
    assert positions == sorted(positions), hops
    nested = page.locator("#trace-result ul.trace-tree ul.trace-tree .hop .service")
    assert await nested.count() >= len(HOPS) - 1, "each hop sits under the one that caused it"
