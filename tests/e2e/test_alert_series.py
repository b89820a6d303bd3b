"""The generated alert rules read series a running service really exports: each selector of
the order service's rules finds a sample on its /metrics after an order settles."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.conftest import GENERATED
from tests.e2e.harness import InProcessPlatform, eventually
from tests.e2e.story import Story

RULES = GENERATED / "prometheus" / "rules.yaml"
PLATFORM_ALERTS = ("A4coSagaPastDeadline", "A4coOutboxBacklogGrowing", "A4coHandlerErrors")
_SELECTOR = re.compile(r"\b(a4co_[a-z_]+)(?:\{([^}]*)\})?")
_MATCHER = re.compile(r'(\w+)(=~|=)"([^"]*)"')

Sample = tuple[str, dict[str, str]]


@pytest.fixture
async def story(saga_platform: InProcessPlatform, database_url: str) -> AsyncIterator[Story]:
    s = Story.of(saga_platform, database_url)
    yield s
    await s.aclose()


def order_rules() -> list[dict[str, Any]]:
    """The order service's lag alerts, placeOrder's latency ratios, and the platform alerts."""
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    labels = [(r, r.get("labels", {})) for r in rules]
    chosen = [
        r for r, lb in labels if r.get("alert") == "A4coConsumerLag" and lb["service"] == "order"
    ]
    chosen += [r for r, lb in labels if "record" in r and lb["operation"] == "placeOrder"]
    chosen += [r for r in rules if r.get("alert") in PLATFORM_ALERTS]
    return chosen


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Each series selector of a PromQL expression: metric name and its label matchers."""
    return [(m[1], _MATCHER.findall(m[2] or "")) for m in _SELECTOR.finditer(expr)]


def matches(selector: tuple[str, list[tuple[str, str, str]]], sample: Sample) -> bool:
    """Whether a sample is one the selector selects; a regex matcher (`outcome=~"retry|..."`,
    values seen only after a failure) asks only that the sample carries its label."""
    name, matchers = selector
    if sample[0] != name:
        return False
    labels = sample[1]
    return all(
        label in labels if op == "=~" else labels.get(label) == value
        for label, op, value in matchers
    )


async def scrape(url: str) -> list[Sample]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    return [(s.name, s.labels) for f in text_string_to_metric_families(text) for s in f.samples]


async def test_every_series_the_order_rules_select_is_exported_by_the_order_service(
    story: Story,
) -> None:
    customer, product = await story.customer(), await story.product(stock=5)
    await story.settled((await story.place(customer, product)).order_id)
    wanted = [
        (r.get("alert") or r["record"], s) for r in order_rules() for s in selectors(r["expr"])
    ]
    assert len(wanted) > 10 and any(s[0] == "a4co_http_request_seconds_bucket" for _, s in wanted)

    async def missing() -> list[str] | None:
        samples = await scrape(story.urls["order"])
        absent = [f"{rule}: {s}" for rule, s in wanted if not any(matches(s, x) for x in samples)]
        return absent or None

    async def all_found() -> bool:
        return await missing() is None

    assert await eventually(all_found, timeout=30), await missing()
