"""`a4co up`'s Prometheus: the scrape configuration it writes, and the one line it prints
when prometheus is not installed."""

from __future__ import annotations

import io

from rich.console import Console

from a4co.cli.state import PlatformState
from a4co.cli.up import print_table
from a4co.infra.exporters import MISSING_POSTGRES_EXPORTER
from a4co.infra.prometheus import MISSING_PROMETHEUS, RULES, scrape_config


def test_every_process_is_a_target_labelled_by_process_with_the_generated_rules() -> None:
    config = scrape_config({"order_2": "http://127.0.0.1:8102", "order": "http://127.0.0.1:8101"})
    assert config["rule_files"] == [str(RULES)] and RULES.is_file()
    (job,) = config["scrape_configs"]
    assert job["static_configs"] == [
        {"targets": ["127.0.0.1:8101"], "labels": {"process": "order"}},
        {"targets": ["127.0.0.1:8102"], "labels": {"process": "order_2"}},
    ]


def _printed(state: PlatformState) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=400, color_system=None), state)
    return out.getvalue()


def test_up_prints_prometheus_url_or_the_command_that_installs_it() -> None:
    state = PlatformState(pid=1, data_dir="/tmp/a4co", services={"order": "http://127.0.0.1:1"})
    without = _printed(state)
    assert [line for line in without.splitlines() if "prometheus" in line] == [
        f"note: {MISSING_PROMETHEUS}"
    ]
    running = PlatformState(
        pid=1, data_dir="/tmp/a4co", services={}, prometheus="http://127.0.0.1:9999"
    )
    text = _printed(running)
    assert "http://127.0.0.1:9999/alerts" in text and "install-prometheus" not in text


def test_up_prints_the_catalogs_live_and_trace_pages() -> None:
    state = PlatformState(
        pid=1,
        data_dir="/tmp/a4co",
        services={},
        static={"catalog": "http://127.0.0.1:9998/catalog/"},
    )
    text = _printed(state)
    assert "http://127.0.0.1:9998/catalog/live.html" in text
    assert "http://127.0.0.1:9998/catalog/trace.html?order=<order-id>" in text


def test_up_prints_the_servers_figures_and_what_it_could_not_start() -> None:
    state = PlatformState(
        pid=1,
        data_dir="/tmp/a4co",
        services={},
        prometheus="http://127.0.0.1:9999",
        exporters={"nats": "http://127.0.0.1:9997/metrics"},
        notes=[MISSING_POSTGRES_EXPORTER],
    )
    text = _printed(state)
    assert "nats figures" in text and "http://127.0.0.1:9997/metrics" in text
    assert f"note: {MISSING_POSTGRES_EXPORTER}" in text
