"""The catalog's trace page in headless Chromium: an order id typed in shows the tree
`a4co trace` prints, read from a spans file through the static server of `a4co up`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from a4co.cli.static import StaticServer
from a4co.cli.trace import render_tree
from a4co.order_trace import order_traces
from runtime.spans import SUBJECT_ATTRIBUTE, TRACE_FILE, read_spans

SITE = Path(__file__).resolve().parents[2] / "generated" / "catalog"
ORDER = "0f5d2c8e-4a7b-4d7e-9a51-3c2b1e0d9f88"
T0 = 1_765_000_000_000_000_000
MS = 1_000_000


def _span(
    span_id: str,
    parent: str | None,
    service: str,
    name: str,
    start: float,
    end: float,
    *,
    trace: str = "a" * 32,
    subject: str | None = None,
) -> dict[str, Any]:
    """A span as `runtime.spans.JsonLinesExporter` writes it, times in ms from T0."""
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_id": parent,
        "name": name,
        "kind": "CONSUMER" if subject else "SERVER",
        "service": service,
        "start_ns": T0 + int(start * MS),
        "end_ns": T0 + int(end * MS),
        "status": "UNSET",
        "attributes": {SUBJECT_ATTRIBUTE: subject} if subject else {},
    }


SPANS = [
    _span("1" * 16, None, "order", "POST /orders", 0, 12.5),
    _span(
        "2" * 16,
        "1" * 16,
        "inventory",
        "inventory.cmd.reserve_stock.v1 receive",
        2,
        6.3,
        subject=ORDER,
    ),
    _span(
        "3" * 16, "2" * 16, "order", "inventory.stock_reserved.v1 receive", 8, 9.5, subject=ORDER
    ),
    _span("4" * 16, "1" * 16, "analytics", "order.created.v1 receive", 3, 4, subject=ORDER),
    _span("5" * 16, None, "user", "GET /users/me", 0, 1, trace="b" * 32, subject="another"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The static server of `a4co up` over a data folder holding the spans above."""
    trace_file = tmp_path / TRACE_FILE
    trace_file.parent.mkdir(parents=True)
    trace_file.write_text("".join(json.dumps(s) + "\n" for s in SPANS), encoding="utf-8")
    server = StaticServer(None, trace_file=trace_file).start()
    try:
        yield server.url
    finally:
        server.stop()


async def _hops(page: Any) -> list[str]:
    """Each hop as `depth offset duration service: name`, in the order the page lists them."""
    lines: list[str] = await page.locator("#trace-result .hop").evaluate_all(
        """(hops) => hops.map((h) => {
            let depth = 0;
            for (let list = h.closest('ul.trace-tree'); list.parentElement.closest('ul.trace-tree');
                 list = list.parentElement.closest('ul.trace-tree')) depth += 1;
            const part = (name) => h.querySelector('.' + name).textContent;
            const times = `${part('offset')} ${part('duration')}`;
            return `${depth} ${times} ${part('service')}: ${part('name')}`;
        })"""
    )
    return lines


async def test_an_order_typed_in_shows_its_saga_as_a_nested_tree(page: Any, served: str) -> None:
    await page.goto(f"{served}/catalog/trace.html")
    await page.locator("#order-id").fill(ORDER)
    await page.get_by_role("button", name="Show its trace").click()
    heading = page.locator("#trace-result section.trace h2")
    await heading.wait_for(timeout=10_000)
    assert await heading.all_text_contents() == [f"trace {'a' * 32}: 4 spans, 12.5 ms"]
    assert await _hops(page) == [
        "0 +0.0 ms 12.5 ms order: POST /orders",
        "1 +2.0 ms 4.3 ms inventory: inventory.cmd.reserve_stock.v1 receive",
        "2 +8.0 ms 1.5 ms order: inventory.stock_reserved.v1 receive",
        "1 +3.0 ms 1.0 ms analytics: order.created.v1 receive",
    ]
    assert await page.locator("#trace-status").text_content() == f"1 trace of order {ORDER}."
    assert page.url.endswith(f"trace.html?order={ORDER}")


async def test_the_page_shows_the_tree_a4co_trace_prints(
    page: Any, served: str, tmp_path: Path
) -> None:
    (spans,) = order_traces(read_spans(tmp_path / TRACE_FILE), ORDER)
    printed = [" ".join(line.split()) for line in render_tree(spans)[1:]]
    await page.goto(f"{served}/catalog/trace.html?order={ORDER}")
    await page.locator("#trace-result .hop").first.wait_for(timeout=10_000)
    shown = [line.split(" ", 1)[1] for line in await _hops(page)]
    assert shown == printed


async def test_an_order_without_a_recorded_trace_says_how_to_record_one(
    page: Any, served: str
) -> None:
    await page.goto(f"{served}/catalog/trace.html?order=no-such-order")
    status = page.locator('#trace-status[data-state="empty"]')
    await status.wait_for(timeout=10_000)
    assert "A4CO_TRACE_RATIO=1" in (await status.text_content() or "")
    assert await page.locator("#trace-result section").count() == 0


async def test_from_a_file_the_page_says_it_needs_the_static_server(page: Any) -> None:
    await page.goto((SITE / "trace.html").as_uri())
    status = page.locator('#trace-status[data-state="unavailable"]')
    await status.wait_for(timeout=10_000)
    assert "opened from a file" in (await status.text_content() or "")
