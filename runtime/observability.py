"""Metrics (Prometheus) and trace propagation (OpenTelemetry) of a running service.

`PlatformMetrics` holds the service's registry: handler latency and outcomes,
redeliveries, consumer lag, outbox backlog, sagas by step and overdue, dead letters; the
HTTP app adds request latency by operation. The alert rules generated from the contracts
(`generated/prometheus/`) read these names. `Tracing` starts
a span per handled message, child of the message's `traceparent`, so every message a
handler sends carries the trace on (`current_traceparent`). A message or request whose
trace is not sampled gets no span at all (`following`): the sampler follows its parent
(`runtime.spans`), so it would only build a span to drop it; the trace is carried on
unchanged, as W3C Trace Context lets a participant that records nothing do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from runtime.bus.base import MessageContext, Subscription

__all__ = [
    "LATENCY_BUCKETS",
    "PlatformMetrics",
    "Tracing",
    "current_traceparent",
    "following",
    "parse_traceparent",
]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Latency histogram bounds (seconds); every `x-slo` latency of the contracts is one of them,
so a burn-rate rule counts the calls within the objective exactly (0.2: product search)."""


class PlatformMetrics:
    """The Prometheus metrics every service exposes on /metrics."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        labels = ["service", "operation"]
        self.handler_seconds = Histogram(
            "a4co_handler_seconds",
            "Time in message handlers",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "a4co_handler_outcomes",
            "Handled messages by outcome (ack, retry, dead_letter)",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.redeliveries = Counter(
            "a4co_redeliveries",
            "Messages handled on a second or later delivery",
            labels,
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "a4co_consumer_pending",
            "Messages waiting for a durable consumer",
            ["service", "durable"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "a4co_outbox_backlog",
            "Recorded events not yet published",
            ["service"],
            registry=self.registry,
        )
        self.sagas = Gauge(
            "a4co_sagas", "Sagas by step", ["service", "step"], registry=self.registry
        )
        self.sagas_overdue = Gauge(
            "a4co_sagas_overdue",
            "Sagas past their step's deadline that no scanner has timed out yet",
            ["service"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "a4co_dead_letters",
            "Dead letters waiting in the DLQ stream, by the consumer that gave up on them",
            ["service", "durable"],
            registry=self.registry,
        )

    def handled(
        self, subscription: Subscription, outcome: str, seconds: float, attempt: int
    ) -> None:
        """Record one handled message (the consumer runner's observer)."""
        op = subscription.operation
        self.handler_seconds.labels(self.service, op).observe(seconds)
        self.outcomes.labels(self.service, op, outcome).inc()
        if attempt > 1:
            self.redeliveries.labels(self.service, op).inc()


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The span context of a W3C `traceparent` header, or None when absent or malformed."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))


def current_traceparent() -> str | None:
    """The `traceparent` of the active span, or None when no span is recording."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def following(
    tracer: trace.Tracer,
    traceparent: str | None,
    name: str,
    *,
    kind: SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """A span `name`, child of `traceparent` (or the root of a new trace, as the sampler
    decides); none at all when `traceparent`'s trace is not sampled: then its context is
    made current, and what is sent inside carries `traceparent` on as it came."""
    parent = parse_traceparent(traceparent)
    if parent is not None and not parent.trace_flags.sampled:
        with trace.use_span(NonRecordingSpan(parent), end_on_exit=False):
            yield
        return
    ctx = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None
    with tracer.start_as_current_span(name, context=ctx, kind=kind, attributes=attributes):
        yield


class Tracing:
    """Spans for handled messages, continuing the trace the message carries."""

    def __init__(self, service: str, provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(f"a4co.{service}", tracer_provider=provider)

    @contextmanager
    def consuming(self, subscription: Subscription, context: MessageContext) -> Iterator[None]:
        """A consumer span around a handler, child of the message's `traceparent`."""
        with following(
            self._tracer,
            context.traceparent,
            f"{subscription.channel.subject} receive",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subscription.channel.subject,
                "messaging.message.id": context.id,
                "messaging.consumer.group.name": subscription.durable,
                # The aggregate the message is about (the order, in the order saga):
                # how `a4co trace <order-id>` finds an order's trace.
                "cloudevents.event_subject": context.subject,
            },
        ):
            yield
