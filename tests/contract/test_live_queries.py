"""The live page's queries (`codegen.live_queries`), evaluated by `promtool test rules` over
series named as the runtime exports them, with the generated rules loaded: each gives the
figure the page shows, replicas folded as the page needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.live_queries import LIVE_QUERIES, REFRESH_SECONDS
from tests.contract.test_prometheus_rules import MISSING_PROMTOOL, RULES

QUERIES = {q.name: q.expr for q in LIVE_QUERIES}

# Two replicas of inventory (instances a, b) handle receiveReserveStock at 1/s each (60 a
# minute, one sample every 15 s); both report the durable's pending count, a moment apart.
# auth introspectToken: 40 calls every 15 s, half of them within its 50 ms objective.
SERIES = [
    (
        "a4co_handler_outcomes_total",
        'service="inventory",operation="receiveReserveStock",outcome="ack",instance="a"',
        "0+15x40",
    ),
    (
        "a4co_handler_outcomes_total",
        'service="inventory",operation="receiveReserveStock",outcome="retry",instance="b"',
        "0+3x40",
    ),
    (
        "a4co_handler_outcomes_total",
        'service="inventory",operation="receiveReserveStock",outcome="ack",instance="b"',
        "0+12x40",
    ),
    (
        "a4co_consumer_pending",
        'service="inventory",durable="inventory_reserve_stock",instance="a"',
        "5x40",
    ),
    (
        "a4co_consumer_pending",
        'service="inventory",durable="inventory_reserve_stock",instance="b"',
        "7x40",
    ),
    ("a4co_sagas", 'service="order",step="reserving_stock",instance="a"', "3x40"),
    ("a4co_sagas", 'service="order",step="done",instance="a"', "40x40"),
    (
        "a4co_http_request_seconds_bucket",
        'service="auth",operation="introspectToken",le="0.05",instance="a"',
        "0+20x40",
    ),
    (
        "a4co_http_request_seconds_count",
        'service="auth",operation="introspectToken",instance="a"',
        "0+40x40",
    ),
]

EXPECTED: dict[str, list[tuple[str, float]]] = {
    "handled": [('{service="inventory",operation="receiveReserveStock"}', 2.0)],
    "lag": [('{service="inventory",durable="inventory_reserve_stock"}', 7.0)],
    "sagas": [
        ('{service="order",step="done"}', 40.0),
        ('{service="order",step="reserving_stock"}', 3.0),
    ],
    "slow_ratio": [
        (
            'a4co:slo_slow_ratio:rate5m{kind="http",service="auth",operation="introspectToken"}',
            0.5,
        )
    ],
}


def _unit_tests() -> dict[str, Any]:
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": f"{name}{{{labels}}}", "values": values}
                    for name, labels, values in SERIES
                ],
                "promql_expr_test": [
                    {
                        "expr": QUERIES[name],
                        "eval_time": "8m",
                        "exp_samples": [
                            {"labels": labels, "value": value} for labels, value in samples
                        ],
                    }
                    for name, samples in EXPECTED.items()
                ],
            }
        ],
    }


def test_every_live_query_has_an_expected_figure() -> None:
    assert set(QUERIES) == set(EXPECTED)
    assert REFRESH_SECONDS >= 5, "the page should not ask more often than Prometheus scrapes"


def test_the_live_queries_give_the_figures_the_page_shows(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(MISSING_PROMTOOL)
    tests = tmp_path / "live_queries_test.yaml"
    tests.write_text(yaml.safe_dump(_unit_tests(), sort_keys=False), encoding="utf-8")
    tested = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
