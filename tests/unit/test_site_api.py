"""The static server's answers for the live and trace pages: only read-only Prometheus calls
go through, a missing or silent Prometheus is said in Prometheus's error shape, and an
order's traces come back as the JSON tree of `a4co.order_trace`."""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path

from a4co.cli.site_api import prometheus_answer, trace_answer
from a4co.infra.ports import LOOPBACK, free_port
from a4co.infra.prometheus import MISSING_PROMETHEUS
from runtime.spans import SUBJECT_ATTRIBUTE


def test_only_read_only_prometheus_calls_are_passed_on() -> None:
    refused = prometheus_answer("http://127.0.0.1:9", "/prometheus/api/v1/admin/tsdb/snapshot", "")
    assert refused.status == HTTPStatus.NOT_FOUND
    assert (
        "only alerts, query, query_range, rules, status/buildinfo"
        in json.loads(refused.body)["error"]
    )


def test_without_prometheus_the_answer_says_how_to_install_it() -> None:
    answer = prometheus_answer(None, "/prometheus/api/v1/query", "query=up")
    assert answer.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert json.loads(answer.body) == {
        "status": "error",
        "errorType": "unavailable",
        "error": MISSING_PROMETHEUS,
    }


def test_a_prometheus_that_does_not_answer_is_a_bad_gateway_naming_it() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    answer = prometheus_answer(url, "/prometheus/api/v1/query", "query=up")
    assert answer.status == HTTPStatus.BAD_GATEWAY
    assert f"Prometheus at {url} did not answer" in json.loads(answer.body)["error"]


def test_a_path_that_climbs_out_of_a_read_only_endpoint_is_refused() -> None:
    for path in (
        "/prometheus/api/v1/query/../admin/tsdb/delete_series",
        "/prometheus/api/v1/query%2F..%2Fadmin%2Ftsdb%2Fsnapshot",
        "/prometheus/api/v1/status/buildinfo/../../admin/tsdb/clean_tombstones",
        "/prometheus/api/v1/",
    ):
        answer = prometheus_answer("http://127.0.0.1:9", path, "")
        assert answer.status == HTTPStatus.NOT_FOUND, path


def test_a_trace_needs_an_order_id() -> None:
    answer = trace_answer(None, "order=%20")
    assert answer.status == HTTPStatus.BAD_REQUEST
    assert "say which order" in json.loads(answer.body)["error"]


def test_an_order_id_with_control_characters_or_too_long_is_a_400(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    spans.write_text("")
    for query in ("order=abc%00def", "order=a%0Ab", "order=%1B%5B2J", "order=" + "9" * 65):
        answer = trace_answer(spans, query)
        assert answer.status == HTTPStatus.BAD_REQUEST, query
        assert "printable characters" in json.loads(answer.body)["error"], query


def test_an_orders_trace_comes_back_as_a_nested_tree(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    root = {"trace_id": "t" * 32, "span_id": "r" * 16, "parent_id": None, "name": "POST /orders"}
    child = {"trace_id": "t" * 32, "span_id": "c" * 16, "parent_id": "r" * 16, "name": "receive"}
    lines = [
        {**root, "service": "order", "start_ns": 1_000_000, "end_ns": 5_000_000, "attributes": {}},
        {
            **child,
            "service": "inventory",
            "start_ns": 2_500_000,
            "end_ns": 3_000_000,
            "attributes": {SUBJECT_ATTRIBUTE: "order-9"},
        },
    ]
    spans.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    body = json.loads(trace_answer(spans, "order=order-9").body)
    assert body["hint"] == ""
    (trace,) = body["traces"]
    assert (trace["span_count"], trace["duration_ms"]) == (2, 4.0)
    (hop,) = trace["roots"]
    assert (hop["service"], hop["offset_ms"], hop["duration_ms"]) == ("order", 0.0, 4.0)
    assert [(c["service"], c["offset_ms"], c["duration_ms"]) for c in hop["children"]] == [
        ("inventory", 1.5, 0.5)
    ]
    missing = json.loads(trace_answer(spans, "order=order-10").body)
    assert missing["traces"] == [] and "A4CO_TRACE_RATIO=1" in missing["hint"]
