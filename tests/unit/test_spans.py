"""Spans written as JSON lines and read back as the tree `a4co trace` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from a4co.cli.trace import order_traces, render_tree
from runtime.errors import ConfigurationError
from runtime.spans import (
    OTLP_ENDPOINT_ENV,
    SUBJECT_ATTRIBUTE,
    TRACE_FILE_ENV,
    TRACE_RATIO_ENV,
    JsonLinesExporter,
    RecordedSpan,
    _exporter,
    _sample_ratio,
    read_spans,
)


def _record_saga(path: Path, order_id: str) -> None:
    """An HTTP span in order, a consumer span in inventory under it, one in order under that."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    http = provider.get_tracer("a4co.order.http")
    with http.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        pass
    inventory = provider.get_tracer("a4co.inventory")
    with inventory.start_span(
        "order.created receive",
        context=set_span_in_context(root),
        attributes={SUBJECT_ATTRIBUTE: order_id},
    ) as reserve:
        pass
    order = provider.get_tracer("a4co.order")
    with order.start_span("stock.reserved receive", context=set_span_in_context(reserve)):
        pass
    with order.start_span("unrelated receive", attributes={SUBJECT_ATTRIBUTE: "other"}):
        pass
    provider.shutdown()


def test_an_orders_trace_is_printed_as_a_tree_in_causal_order(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "spans.jsonl"
    _record_saga(path, "order-1")
    traces = order_traces(read_spans(path), "order-1")
    assert len(traces) == 1 and len(traces[0]) == 3
    lines = render_tree(traces[0])
    assert lines[0].startswith(f"trace {traces[0][0].trace_id}: 3 spans")
    hops = [line.rsplit(" ms  ", 1)[1] for line in lines[1:]]
    assert hops == [
        "order: POST /orders",
        "  inventory: order.created receive",
        "    order: stock.reserved receive",
    ]


def test_a_span_cut_short_is_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    _record_saga(path, "order-2")
    with path.open("a", encoding="utf-8") as out:
        out.write('{"trace_id": "ab')
    assert len(list(read_spans(path))) == 4


def test_no_trace_names_an_unknown_order(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    _record_saga(path, "order-3")
    assert order_traces(read_spans(path), "order-4") == []
    assert list(read_spans(tmp_path / "absent.jsonl")) == []


def test_a_ratio_outside_zero_to_one_fails_naming_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TRACE_RATIO_ENV, "2")
    with pytest.raises(ConfigurationError, match="A4CO_TRACE_RATIO='2'"):
        _sample_ratio()
    monkeypatch.setenv(TRACE_RATIO_ENV, "0")
    assert _sample_ratio() == 0.0


def test_a_recorded_span_knows_its_duration() -> None:
    span = RecordedSpan("t", "s", None, "n", "order", 1_000_000, 3_500_000, {})
    assert span.seconds == pytest.approx(0.0025)


def test_spans_go_to_otlp_when_an_endpoint_is_set_else_to_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(TRACE_FILE_ENV, raising=False)
    assert _exporter() is None
    monkeypatch.setenv(TRACE_FILE_ENV, str(tmp_path / "spans.jsonl"))
    assert isinstance(_exporter(), JsonLinesExporter)
    monkeypatch.setenv(OTLP_ENDPOINT_ENV, "http://127.0.0.1:4318")
    assert isinstance(_exporter(), OTLPSpanExporter)
