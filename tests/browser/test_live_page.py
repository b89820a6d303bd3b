"""The catalog's live page in headless Chromium, reading a real Prometheus through the static
server of `a4co up`: Prometheus scrapes an endpoint of this test that serves the runtime's
metric names with values the test sets (counters growing at known rates), evaluates the
generated rules, and the page must show those figures, the objectives' states and the
traffic on the graph. Without Prometheus, or from a file, the page says so and still works."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from a4co.cli.static import StaticServer
from a4co.infra.prometheus import MISSING_PROMETHEUS, EmbeddedPrometheus, find_prometheus
from codegen.build import build_catalog
from codegen.live_queries import LIVE_QUERIES
from codegen.loader import Workspace
from codegen.model import Catalog, Operation
from codegen.prometheus import Objective, declared_objectives
from tests.browser.conftest import PageErrors

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "generated" / "catalog"
DEADLINE = 120.0
MISSING = "prometheus is not installed: run `sudo make install-prometheus`"

RESERVE_RATE, PAYMENT_RATE = 4.0, 2.0
RESERVE_LAG, PAYMENT_LAG = 17, 3
SAGAS = {"reserving_stock": 3, "processing_payment": 5, "done": 40}


@dataclass(frozen=True, slots=True)
class Figures:
    """What the test's metrics endpoint serves, named after the contracts."""

    reserve: Operation
    payment: Operation
    burning: Objective
    met: Objective


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog(Workspace(REPO / "contracts"))


def _receiver(catalog: Catalog, service: str, message: str) -> Operation:
    return next(
        op for op in catalog.services[service].receives if op.channel.message.name == message
    )


@pytest.fixture(scope="module")
def figures(catalog: Catalog) -> Figures:
    objectives = declared_objectives(catalog)
    return Figures(
        reserve=_receiver(catalog, "inventory", "ReserveStock"),
        payment=_receiver(catalog, "payment", "ProcessPayment"),
        burning=next(
            o for o in objectives if (o.service, o.operation) == ("auth", "introspectToken")
        ),
        met=next(
            o for o in objectives if (o.service, o.operation) == ("product", "searchProducts")
        ),
    )


def _exposition(f: Figures, elapsed: float) -> str:
    """Prometheus text: counters grow linearly from the endpoint's start, gauges stay put."""
    lines = []
    for op, rate in ((f.reserve, RESERVE_RATE), (f.payment, PAYMENT_RATE)):
        labels = f'service="{op.service}",operation="{op.key}",outcome="ack"'
        lines.append(f"a4co_handler_outcomes_total{{{labels}}} {1000 + rate * elapsed:.6f}")
    for op, lag in ((f.reserve, RESERVE_LAG), (f.payment, PAYMENT_LAG)):
        lines.append(
            f'a4co_consumer_pending{{service="{op.service}",durable="{op.durable}"}} {lag}'
        )
    for step, count in SAGAS.items():
        lines.append(f'a4co_sagas{{service="order",step="{step}"}} {count}')
    calls = 500 + 10 * elapsed
    for o, fast in ((f.burning, 100.0), (f.met, calls)):
        match = f'service="{o.service}",operation="{o.operation}"'
        lines.append(f'{o.histogram}_bucket{{{match},le="{float(o.slo.latency)!r}"}} {fast:.6f}')
        lines.append(f'{o.histogram}_bucket{{{match},le="+Inf"}} {calls:.6f}')
        lines.append(f"{o.histogram}_count{{{match}}} {calls:.6f}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def metrics_url(figures: Figures) -> Iterator[str]:
    """An HTTP /metrics whose values the test controls."""
    started = time.monotonic()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = _exposition(figures, time.monotonic() - started).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, name="test-metrics", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5.0)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def _has_every_figure(prometheus: str) -> bool:
    """Every live query answers with numbers: two scrapes and a rule evaluation have passed."""
    expected = {"handled": 2, "lag": 2, "sagas": 3, "slow_ratio": 2}
    for query in LIVE_QUERIES:
        values = [float(r["value"][1]) for r in _query(prometheus, query.expr)]
        if len(values) != expected[query.name] or any(v != v for v in values):  # NaN
            return False
    return True


@pytest.fixture(scope="module")
def prometheus_url(metrics_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping the test's endpoint with the generated rules, once it has
    every figure the page shows."""
    binary = find_prometheus()
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    prometheus = EmbeddedPrometheus(
        binary, tmp_path_factory.mktemp("prometheus"), {"figures": metrics_url}
    )
    prometheus.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while not _has_every_figure(prometheus.url):
            assert time.monotonic() < deadline, f"Prometheus had no figures in {DEADLINE:g} s"
            time.sleep(0.5)
        yield prometheus.url
    finally:
        prometheus.stop()


@pytest.fixture
def served(prometheus_url: str) -> Iterator[str]:
    """The static server of `a4co up`, passing the live page's queries to Prometheus."""
    server = StaticServer(None, prometheus_url=prometheus_url).start()
    try:
        yield server.url
    finally:
        server.stop()


async def _cell(page: Any, row: str, name: str) -> str:
    text: str = await page.locator(f'tr[data-key="{row}"] .{name}').text_content() or ""
    return text


async def test_live_page_shows_rates_lag_sagas_and_objectives_from_prometheus(
    page: Any, served: str, figures: Figures
) -> None:
    await page.goto(f"{served}/catalog/live.html")
    reserve = f"durable:{figures.reserve.durable}"
    await page.wait_for_function(
        "([row, rate]) => document.querySelector(`tr[data-key='${row}'] .rate`)"
        "?.textContent === rate",
        arg=[reserve, f"{RESERVE_RATE:.1f}"],
        timeout=DEADLINE * 1000,
    )
    assert await page.locator("#live-status").get_attribute("data-state") == "ok"
    assert await _cell(page, reserve, "lag") == str(RESERVE_LAG)
    payment = f"durable:{figures.payment.durable}"
    assert await _cell(page, payment, "rate") == f"{PAYMENT_RATE:.1f}"
    assert await _cell(page, payment, "lag") == str(PAYMENT_LAG)
    assert await _cell(page, "durable:inventory_release_stock", "rate") == "\u2013"

    rows = await page.locator("#saga-table tbody tr").evaluate_all(
        "(rows) => rows.map((r) => Array.from(r.cells, (c) => c.textContent))"
    )
    assert rows == [["order", step, str(n)] for step, n in sorted(SAGAS.items())]
    assert await page.locator("#saga-none").is_hidden()

    burning = f"slo:http:{figures.burning.service}:{figures.burning.operation}"
    met = f"slo:http:{figures.met.service}:{figures.met.operation}"
    assert await _cell(page, burning, "state") == "burning"
    assert await _cell(page, burning, "slow") == "100.0 %"
    assert await _cell(page, met, "state") == "met"
    assert await _cell(page, met, "slow") == "0.0 %"
    assert await _cell(page, "slo:http:order:placeOrder", "state") == "no traffic"


async def test_graph_edges_carry_the_traffic_of_their_messages(page: Any, served: str) -> None:
    await page.goto(f"{served}/catalog/live.html")
    to_inventory = page.locator('#service-graph .edge[data-from="order"][data-to="inventory"]')
    await to_inventory.locator("text.traffic").wait_for(timeout=DEADLINE * 1000)
    # order -> inventory carries ReserveStock, ReleaseStock and CommitStock: only one moves.
    assert await to_inventory.locator("text.traffic").text_content() == f"{RESERVE_RATE:.1f}/s"
    to_payment = page.locator('#service-graph .edge[data-from="order"][data-to="payment"]')
    assert await to_payment.locator("text.traffic").text_content() == f"{PAYMENT_RATE:.1f}/s"
    widths = await page.locator("#service-graph .edge").evaluate_all(
        """(edges) => Object.fromEntries(edges.map((e) => [
            `${e.dataset.from}>${e.dataset.to}`,
            parseFloat(getComputedStyle(e.querySelector("path")).strokeWidth)]))"""
    )
    idle = {
        pair: w for pair, w in widths.items() if pair not in ("order>inventory", "order>payment")
    }
    assert widths["order>inventory"] > widths["order>payment"] > max(idle.values())
    assert await page.locator("#service-graph .edge text.traffic").count() == 2
    assert await page.locator("#service-graph .edge.busy").count() == 2


def _forget_refusals(page_errors: PageErrors, status: int) -> None:
    """The browser logs each refused query; those are what this test expects, nothing else."""
    expected = f"status of {status}"
    others = [line for line in page_errors.lines if expected not in line]
    assert page_errors.lines and not others, page_errors.lines
    page_errors.lines.clear()


async def test_without_prometheus_the_page_says_so_and_the_rest_works(
    page: Any, page_errors: PageErrors
) -> None:
    server = StaticServer(None, prometheus_url=None).start()
    try:
        await page.goto(f"{server.url}/catalog/live.html")
        status = page.locator('#live-status[data-state="unavailable"]')
        await status.wait_for(timeout=30_000)
        text = await status.text_content() or ""
        assert "No Prometheus is reachable" in text and MISSING_PROMETHEUS in text
        assert await page.locator("#service-graph a.node").count() > 10
        assert await page.locator("#channel-table tbody tr").count() > 10
        await page.locator("header nav").get_by_role("link", name="Order trace").click()
        await page.wait_for_url("**/catalog/trace.html")
    finally:
        server.stop()
    _forget_refusals(page_errors, 503)


async def test_from_a_file_the_page_says_prometheus_is_out_of_reach(page: Any) -> None:
    await page.goto((SITE / "live.html").as_uri())
    status = page.locator('#live-status[data-state="unavailable"]')
    await status.wait_for(timeout=10_000)
    assert "opened from a file" in (await status.text_content() or "")
    assert await page.locator("#objective-table tbody tr").count() > 50
