"""The event catalog site in headless Chromium: pages load, links resolve (the live and trace
pages too), the graph renders, a message page shows its contract, and search filters; no
console errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlparse

import pytest

from codegen.build import build_catalog
from codegen.loader import Workspace
from codegen.model import Catalog
from tests.browser.conftest import PageErrors, static_server

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "generated" / "catalog"


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The committed catalog (what `a4co up` serves) over HTTP."""
    assert (SITE / "index.html").is_file(), f"{SITE} is missing: run `make generate`"
    with static_server(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The contracts' catalog model, to know what the site must show."""
    return build_catalog(Workspace(REPO / "contracts"))


async def test_index_lists_every_service_and_message(
    page: Any, site_url: str, catalog: Catalog
) -> None:
    response = await page.goto(site_url + "index.html")
    assert response is not None and response.ok
    assert await page.title() == "Services and events · A4CO event catalog"
    services = await page.locator("#service-table tbody tr").count()
    messages = await page.locator("#message-table tbody tr").count()
    assert services == len(catalog.services)
    assert messages == len(catalog.channels)


async def _links(page: Any) -> list[str]:
    """Every href and src of the page, resolved against it (SVG links included)."""
    result: list[str] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('[href], [src]'))
            .map((el) => el.getAttribute('href') ?? el.getAttribute('src'))
            .filter((v) => v && !v.startsWith('data:'))
            .map((v) => new URL(v, document.baseURI).href)"""
    )
    return result


async def test_every_link_on_every_page_resolves(
    page: Any, page_errors: PageErrors, site_url: str
) -> None:
    origin = urlparse(site_url).netloc
    queue, ids = [site_url + "index.html"], dict[str, set[str]]()
    seen, targets, broken = set[str](), set[tuple[str, str, str]](), list[str]()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        if not url.endswith(".html"):
            response = await page.request.get(url)
            if not response.ok:
                broken.append(f"{url}: {response.status}")
            continue
        response = await page.goto(url)
        if response is None or not response.ok:
            broken.append(f"{url}: {response.status if response else 'no response'}")
            continue
        ids[url] = set(
            await page.evaluate("() => Array.from(document.querySelectorAll('[id]'), (e) => e.id)")
        )
        for target in await _links(page):
            assert urlparse(target).netloc == origin, f"{url} links outside the site: {target}"
            bare, fragment = urldefrag(target)
            if fragment:
                targets.add((url, bare, fragment))
            queue.append(bare)
    for source, bare, fragment in sorted(targets):
        if bare in ids and fragment not in ids[bare]:
            broken.append(f"{source} -> {bare}#{fragment}: no element with that id")
    assert not broken, "broken links:\n" + "\n".join(broken)
    for folder in ("services", "messages"):
        files = sorted(f"{site_url}{folder}/{p.name}" for p in (SITE / folder).iterdir())
        assert sorted(u for u in ids if f"/{folder}/" in u) == files, f"unlinked {folder} pages"
    assert {f"{site_url}{name}" for name in TOP_PAGES} <= set(ids), "unlinked top pages"
    _forget_live_page_refusals(page_errors)


TOP_PAGES = ("index.html", "live.html", "trace.html")


def _forget_live_page_refusals(page_errors: PageErrors) -> None:
    """This plain file server has no Prometheus behind `prometheus/api/v1/`: the live page's
    queries get a 404 the browser logs (the page says no Prometheus is reachable). Any other
    error stays and fails the test."""
    page_errors.lines[:] = [
        line
        for line in page_errors.lines
        if not ("/prometheus/api/v1/query?" in line and "status of 404" in line)
    ]


async def test_service_graph_draws_a_node_per_service_and_edges(
    page: Any, site_url: str, catalog: Catalog
) -> None:
    await page.goto(site_url + "index.html")
    graph = page.locator("#service-graph")
    box = await graph.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    nodes = graph.locator("a.node")
    names = sorted(await nodes.evaluate_all("(ns) => ns.map((n) => n.dataset.service)"))
    assert names == sorted(catalog.services)
    for i in range(await nodes.count()):
        node_box = await nodes.nth(i).locator("rect").bounding_box()
        assert node_box is not None and node_box["width"] > 0 and node_box["height"] > 0
    lengths = await graph.locator(".edge path").evaluate_all(
        "(ps) => ps.map((p) => p.getTotalLength())"
    )
    assert len(lengths) > len(catalog.services) and all(n > 10 for n in lengths)
    order_to_inventory = graph.locator('.edge[data-from="order"][data-to="inventory"] title')
    assert "ReserveStock" in (await order_to_inventory.text_content() or "")


async def test_order_created_page_shows_subject_example_and_consumers(
    page: Any, site_url: str, catalog: Catalog
) -> None:
    channel = next(c for c in catalog.channels.values() if c.message.name == "OrderCreated")
    consumers = sorted(
        op.service
        for s in catalog.services.values()
        for op in s.receives
        if op.channel.place == channel.place
    )
    assert consumers, "OrderCreated has consumers in the contracts"
    await page.goto(site_url + "index.html")
    await (
        page.locator("#message-table").get_by_role("link", name="OrderCreated", exact=True).click()
    )
    await page.wait_for_url("**/messages/OrderCreated.html")
    facts = page.locator("dl.facts")
    assert "order.created.v1" in (await facts.text_content() or "")
    example = page.locator("#examples pre").first
    assert json.loads(await example.text_content() or "") == channel.message.examples[0].value
    shown = await page.locator("#consumer-table tbody tr td:first-child a").all_text_contents()
    assert sorted(shown) == consumers
    await page.locator("#consumer-table").get_by_role("link", name=consumers[0]).click()
    await page.wait_for_url(f"**/services/{consumers[0]}.html")
    received = page.locator("#receive-table")
    assert await received.get_by_role("link", name="OrderCreated", exact=True).count() == 1


async def test_search_for_stock_shows_stock_messages_and_hides_the_rest(
    page: Any, site_url: str
) -> None:
    await page.goto(site_url + "index.html")
    entries = json.loads(await page.locator("#search-index").text_content() or "[]")
    await page.locator("#search").fill("stock")
    assert await _row("StockReserved", page).is_visible()
    assert await _row("ReserveStock", page).is_visible()
    assert not await _row("UserRegistered", page).is_visible()
    visible = await page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('[data-key]'),
            (row) => [row.dataset.key, row.getClientRects().length > 0]))"""
    )
    assert visible == {e["key"]: "stock" in e["text"] for e in entries}
    matched = sum("stock" in e["text"] for e in entries)
    assert await page.locator("#search-count").text_content() == (
        f"{matched} of {len(entries)} entries match"
    )
    await page.locator("#search").fill("")
    assert await _row("UserRegistered", page).is_visible()


def _row(message: str, page: Any) -> Any:
    return page.locator(f'[data-key="message:{message}"]')


async def test_site_works_from_file_urls(page: Any) -> None:
    await page.goto((SITE / "index.html").as_uri() + "?q=inventory.stock_reserved.v1")
    assert await _row("StockReserved", page).is_visible()
    assert not await _row("OrderCreated", page).is_visible()
    await page.locator("#service-graph a.node[data-service='inventory']").click()
    await page.wait_for_url("**/services/inventory.html")
    assert await page.locator("h1").text_content() == "inventory service"
