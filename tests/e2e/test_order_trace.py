"""`a4co trace <order-id>` on the saga's services run as processes with every trace recorded:
the order's spans, written by four processes to the data folder's trace file, print as one
tree that names each service hop in causal order."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from a4co.launcher import Platform
from runtime.spans import TRACE_RATIO_ENV
from tests.e2e.harness import embedded_env, eventually, serve_jwks
from tests.e2e.story import Story

SAGA_SERVICES = ["user", "inventory", "payment", "order"]
REPO = Path(__file__).resolve().parents[2]
HOPS = [
    "order: POST /orders",
    "inventory: inventory.cmd.reserve_stock.v1 receive",
    "order: inventory.stock_reserved.v1 receive",
    "payment: payment.cmd.process_payment.v1 receive",
    "order: payment.succeeded.v1 receive",
    "inventory: inventory.cmd.commit_stock.v1 receive",
]
"""The saga's hops, each caused by the one before: the tree prints them in this order."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def traced() -> AsyncIterator[tuple[Story, Path]]:
    """The saga's services as processes, recording every trace, and their data folder."""
    with tempfile.TemporaryDirectory(prefix="a4co-trace-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                SAGA_SERVICES,
                data_dir=Path(folder),
                env=embedded_env(jwks_url, **{TRACE_RATIO_ENV: "1"}),
            )
            await asyncio.to_thread(platform.start)
            try:
                nc = await nats.connect(platform.infra.nats_url or "")
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                yield story, Path(folder)
                await story.aclose()
                await nc.close()
            finally:
                await asyncio.to_thread(platform.stop)


def a4co_trace(data_dir: Path, order_id: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "a4co.cli", "trace", "--data-dir", str(data_dir)]
    return subprocess.run(
        [*command, order_id], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def hop_lines(output: str) -> list[str]:
    """Each printed span as `<indent><service>: <name>`, without its offset and duration."""
    return [line.rsplit(" ms  ", 1)[1] for line in output.splitlines() if " ms  " in line]


async def test_the_trace_of_an_order_names_each_hop_in_causal_order(
    traced: tuple[Story, Path],
) -> None:
    story, data_dir = traced
    customer, product = await story.customer(), await story.product(stock=3)
    placed = await story.place(customer, product)
    assert (await story.settled(placed.order_id)).status == "confirmed"
    order_id = str(placed.order_id)

    last: list[str] = []

    def complete() -> list[str] | None:  # spans reach the file in batches, every few seconds
        printed = a4co_trace(data_dir, order_id)
        last[:] = [printed.stdout + printed.stderr]
        hops = [h.strip() for h in hop_lines(printed.stdout)]
        return hops if printed.returncode == 0 and set(HOPS) <= set(hops) else None

    try:
        hops = await eventually(complete, timeout=60.0, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; a4co trace printed:\n{last[0]}") from None
    positions = [hops.index(hop) for hop in HOPS]
    assert positions == sorted(positions), hops


async def test_an_order_with_no_recorded_trace_is_a_one_line_error(
    traced: tuple[Story, Path],
) -> None:
    printed = a4co_trace(traced[1], "00000000-0000-4000-8000-000000000000")
    assert printed.returncode == 1
    assert "no recorded trace names order" in printed.stdout
