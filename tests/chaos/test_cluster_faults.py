"""Faults during an open-loop burst of orders on a three-node JetStream cluster.

The saga's services (user, inventory, payment and two order processes) run as processes,
supervised as `a4co up` does. Each scenario offers orders at a fixed rate, strikes once
mid-burst, then checks in the databases that every order settled, none was lost and no
effect happened twice, and prints its table (run with `make test-chaos`, which shows it).
`A4CO_CHAOS_RATE` and `A4CO_CHAOS_SECONDS` change the burst (defaults 30 orders/s, 20 s).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from a4co.cli.running import with_replicas
from a4co.launcher import Platform
from runtime.bus.nats_connect import connect
from tests.chaos.burst import CUSTOMERS, Burst, BurstResult
from tests.chaos.cluster import (
    Chaos,
    Supervision,
    lead_all,
    leaders,
    replicas_current,
    step_down,
)
from tests.chaos.ledger import Ledger, count_effects, settle
from tests.chaos.report import table
from tests.e2e.harness import embedded_env, eventually, serve_jwks
from tests.e2e.story import Story

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SERVICES = ("user", "inventory", "payment", "order")
SAGA_STREAMS = ("ORDER", "INVENTORY", "PAYMENT")
RATE = float(os.environ.get("A4CO_CHAOS_RATE", "30"))
SECONDS = float(os.environ.get("A4CO_CHAOS_SECONDS", "20"))
FAULT_AFTER = 6.0
"""Seconds into the burst when the fault strikes: the pipeline is full by then."""
DOWN_FOR = 5.0
"""Seconds a killed nats-server stays down before it is started again."""
STOCK = 100_000
SETTLE_TIMEOUT = 180.0


@pytest.fixture(scope="module")
async def chaos() -> AsyncIterator[Chaos]:
    """One platform for every scenario (its start is a fifth of the run); stopped at the end."""
    services = with_replicas({name: f"services.{name}" for name in SERVICES}, "order=2")
    with tempfile.TemporaryDirectory(prefix="a4co-chaos-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                services,
                data_dir=Path(folder),
                nats_cluster=3,
                ready_timeout=120.0,
                env=embedded_env(jwks_url),
            )
            await asyncio.to_thread(platform.start)
            try:
                async for running in _watched(platform):
                    yield running
            finally:
                await asyncio.to_thread(platform.stop)


async def _watched(platform: Platform) -> AsyncIterator[Chaos]:
    nc = await connect(
        platform.infra.nats_url or "", max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    story = Story(platform.urls, nc, platform.infra.database_url or "")
    supervision = Supervision(platform)
    try:
        yield Chaos(platform, story, nc, supervision)
    finally:
        await supervision.stop()
        await story.aclose()
        await nc.close()


async def test_killing_the_node_that_leads_the_saga_streams_loses_and_doubles_nothing(
    chaos: Chaos,
) -> None:
    cluster = chaos.platform.nats_cluster
    assert cluster is not None
    victim = await lead_all(chaos.nc, SAGA_STREAMS)

    async def kill_and_restart() -> str:
        node = cluster.node(victim)
        await asyncio.to_thread(node.kill)
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(node.start)
        streams = ", ".join(SAGA_STREAMS)
        return f"kill -9 of {victim}, leader of {streams}; started again {DOWN_FOR:g} s later"

    await run_scenario(chaos, "kill -9 of the saga streams' leader node", kill_and_restart)
    after = await leaders(chaos.nc, SAGA_STREAMS)
    print(f"  leaders after: {after}", flush=True)
    await eventually(lambda: replicas_current(chaos.nc, SAGA_STREAMS, 3), timeout=60, interval=0.5)


async def test_a_stream_leader_stepdown_mid_burst_loses_and_doubles_nothing(chaos: Chaos) -> None:
    async def stepdown() -> str:
        before = (await leaders(chaos.nc, ["ORDER"]))["ORDER"]
        await step_down(chaos.nc, "ORDER")

        async def moved() -> str | None:
            leader = (await leaders(chaos.nc, ["ORDER"]))["ORDER"]
            return leader if leader not in (None, before) else None

        return f"ORDER leader stepdown: {before} -> {await eventually(moved, timeout=30)}"

    await run_scenario(chaos, "ORDER stream leader stepdown", stepdown)


async def test_killing_one_of_two_order_processes_loses_and_doubles_nothing(chaos: Chaos) -> None:
    platform = chaos.platform
    restarts = chaos.supervision.restarts("order_2")

    async def kill_replica() -> str:
        killed_at, pid = time.monotonic(), platform.pid("order_2")
        platform.kill("order_2")

        async def back() -> bool:
            return platform.pid("order_2") not in (None, pid) and await _ready(
                platform.urls["order_2"]
            )

        await eventually(back, timeout=90, interval=0.2)
        took = time.monotonic() - killed_at
        return f"kill -9 of order_2 (pid {pid}); supervision had it ready again in {took:.1f} s"

    await run_scenario(chaos, "kill -9 of one of two order processes", kill_replica)
    assert chaos.supervision.restarts("order_2") == restarts + 1


async def test_a_postgresql_restart_mid_burst_loses_and_doubles_nothing(chaos: Chaos) -> None:
    async def restart() -> str:
        began = time.monotonic()
        await asyncio.to_thread(chaos.platform.restart_postgres)
        return f"PostgreSQL restarted (fast shutdown, start) in {time.monotonic() - began:.1f} s"

    await run_scenario(chaos, "PostgreSQL restart", restart, refusals="503")


async def run_scenario(
    chaos: Chaos,
    title: str,
    fault: Callable[[], Awaitable[str]],
    *,
    refusals: str | None = None,
) -> None:
    """A burst with `fault` in it; print the table; assert nothing lost and nothing doubled.

    `refusals` is the one status the order service may refuse orders with meanwhile.
    """
    story = chaos.story
    customers = [await story.customer() for _ in range(CUSTOMERS)]
    product = await story.product(stock=STOCK)
    said: list[str] = []

    async def strike() -> None:
        said.append(await fault())

    burst = Burst(chaos.platform.urls["order"], product, customers)
    try:
        result = await burst.run(rate=RATE, seconds=SECONDS, fault_after=FAULT_AFTER, fault=strike)
    finally:
        await burst.aclose()
    ledger = await _ledger(story, product, customers, result)
    supervised = [line for at, line in chaos.supervision.lines if at >= result.fault_at]
    print("\n" + table(title, "; ".join(said), result, ledger), flush=True)
    for line in supervised:
        print(f"  supervision: {line}", flush=True)
    _assert_nothing_lost_or_doubled(ledger, result, refusals=refusals)


async def _ledger(
    story: Story, product: UUID, customers: list[UUID], result: BurstResult
) -> Ledger:
    orders = await settle(story.database_url, customers, result.accepted, timeout=SETTLE_TIMEOUT)
    on_hand, reserved, effects = await count_effects(
        story.database_url, product, STOCK, orders, timeout=60
    )
    return Ledger(orders, result.accepted, STOCK, on_hand, reserved, effects)


def _assert_nothing_lost_or_doubled(
    ledger: Ledger, result: BurstResult, *, refusals: str | None
) -> None:
    assert result.accepted, "no order was accepted"
    refused = [p.error for p in result.refused]
    if refusals is None:
        assert refused == [], "the order service refused orders though its database ran"
    else:  # "retry later", not a 500: a client may place the order again
        assert [e for e in refused if not e.startswith(f"{refusals}:")] == []
    assert ledger.lost == [], "accepted orders that never settled"
    statuses = {o: s.status for o, s in ledger.orders.items()}
    assert set(statuses.values()) == {"confirmed"}, "enough stock and good cards: all confirm"
    assert sum(ledger.doubled().values()) == 0, ledger.doubled()
    assert sum(ledger.missing().values()) == 0, ledger.missing()
    assert ledger.reserved == 0
    assert ledger.stock_moved == len(ledger.confirmed)


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False
