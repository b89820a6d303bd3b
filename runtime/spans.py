"""Where a service's recorded spans go, and how `a4co trace` reads them back.

`install_tracer_provider` gives the process its OpenTelemetry SDK provider once:

- sampling: `A4CO_TRACE_RATIO` of the traces started here are recorded (default
  `DEFAULT_TRACE_RATIO`, 1 in 100; `0` records none); a trace begun elsewhere follows its
  parent's decision, so a sampled order is recorded in every service it reaches. The
  trace of an order is whole only when sampled: a debug run sets the ratio to 1.
- export: to an OTLP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; else, when
  `A4CO_TRACE_FILE` names a file (the launcher sets `<data>/traces/spans.jsonl`), as one
  JSON object per finished span appended to it, which needs nothing else running; else
  nowhere (ids still propagate in `traceparent`).

Every span carries `service.name` (resource), and a consumer span the CloudEvents subject
of its message (`cloudevents.event_subject`, the aggregate id: the order's for the order
saga), which is how `a4co trace <order-id>` finds the order's trace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from runtime.errors import ConfigurationError

__all__ = [
    "DEFAULT_TRACE_RATIO",
    "OTLP_ENDPOINT_ENV",
    "SUBJECT_ATTRIBUTE",
    "TRACE_FILE",
    "TRACE_FILE_ENV",
    "TRACE_RATIO_ENV",
    "JsonLinesExporter",
    "RecordedSpan",
    "install_tracer_provider",
    "read_spans",
]

DEFAULT_TRACE_RATIO = 0.01
"""Recording every trace costs ~6 CPU-ms per order in the services, +11 % (docs/benchmarks.md,
"The cost of tracing"), so 1 trace in 100 is recorded unless `A4CO_TRACE_RATIO` says otherwise."""
TRACE_RATIO_ENV = "A4CO_TRACE_RATIO"
TRACE_FILE_ENV = "A4CO_TRACE_FILE"
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SUBJECT_ATTRIBUTE = "cloudevents.event_subject"
TRACE_FILE = Path("traces") / "spans.jsonl"
"""Where the launcher has every service append its spans, under the data folder."""


class JsonLinesExporter(SpanExporter):
    """Append each finished span to a file as one JSON line (one write per batch).

    The file is opened in append mode for each batch: several processes share it, and an
    append of one buffer is not interleaved with another process's on a local file system.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(json.dumps(_as_record(s), separators=(",", ":")) + "\n" for s in spans)
        with self._path.open("a", encoding="utf-8") as out:
            out.write(text)
        return SpanExportResult.SUCCESS


def _as_record(span: ReadableSpan) -> dict[str, Any]:
    context, parent = span.get_span_context(), span.parent
    assert context is not None  # a finished SDK span always has one
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": _service(span),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: v for k, v in (span.attributes or {}).items() if _plain(v)},
    }


def _service(span: ReadableSpan) -> str:
    """The service of a span: its tracer is `a4co.<service>` or `a4co.<service>.http`.

    Not the resource's `service.name`: tests host several services in one process, which
    has one provider, so one resource.
    """
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    parts = scope.split(".")
    if len(parts) >= 2 and parts[0] == "a4co":
        return parts[1]
    return str(span.resource.attributes.get(SERVICE_NAME, scope))


def _plain(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _sample_ratio() -> float:
    """`A4CO_TRACE_RATIO` as a fraction in [0, 1]; a value outside it fails the start."""
    text = os.environ.get(TRACE_RATIO_ENV, "").strip()
    if not text:
        return DEFAULT_TRACE_RATIO
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigurationError(f"{TRACE_RATIO_ENV}={text!r} is not a fraction between 0 and 1")
    return ratio


def _sampler() -> ParentBased:
    return ParentBased(TraceIdRatioBased(_sample_ratio()))


def _exporter() -> SpanExporter | None:
    if os.environ.get(OTLP_ENDPOINT_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # reads the endpoint and headers from the environment
    if path := os.environ.get(TRACE_FILE_ENV):
        return JsonLinesExporter(Path(path))
    return None


def install_tracer_provider(service: str) -> None:
    """Give the process a recording provider (once), sampling and exporting as set above."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    # The SDK reads OTEL_TRACES_SAMPLER itself when it is set.
    sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else _sampler()
    provider = TracerProvider(sampler=sampler, resource=Resource.create({SERVICE_NAME: service}))
    if (exporter := _exporter()) is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


@dataclass(frozen=True, slots=True)
class RecordedSpan:
    """One span read back from a trace file."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def read_spans(path: Path) -> Iterator[RecordedSpan]:
    """The spans of a JSON-lines trace file; a line cut short by a crash is passed over."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:  # the last line of a process killed mid-write
                continue
            yield RecordedSpan(
                trace_id=raw["trace_id"],
                span_id=raw["span_id"],
                parent_id=raw["parent_id"],
                name=raw["name"],
                service=raw["service"],
                start_ns=raw["start_ns"],
                end_ns=raw["end_ns"],
                attributes=raw["attributes"],
            )
