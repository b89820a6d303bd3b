"""What a handled message pays for tracing, per message, in this process.

Run `python bench/bench_tracing.py [--messages 50000]`. It installs the platform's tracer
provider (`runtime.spans`, the `A4CO_TRACE_RATIO` sampler, no exporter unless one is set)
and times `Tracing.consuming` around an empty handler for a message whose trace is not
sampled (99 in 100 at the default ratio), one whose trace is sampled, and one with no
trace; as the baseline, the span the SDK builds for an unsampled trace only to drop it
(`start_as_current_span` under the parent, what `consuming` did before it skipped it).
Prints CPU microseconds per message (`time.process_time`); asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind
from pydantic import BaseModel

from runtime.bus.base import Channel, MessageContext, Subscription
from runtime.observability import Tracing, parse_traceparent
from runtime.spans import install_tracer_provider

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"


class Ping(BaseModel):
    """The benchmark's message."""

    n: int


SUBSCRIPTION = Subscription(
    channel=Channel(
        subject="order.ping.v1", message="Ping", model=Ping, kind="event", owner="bench"
    ),
    stream="ORDER",
    durable="bench_on_ping",
    handler="on_ping",
    operation="receivePing",
)


def context(traceparent: str | None) -> MessageContext:
    """A message's envelope carrying `traceparent`."""
    return MessageContext(
        id="m-1",
        type="a4co.order.ping.v1",
        source="/services/bench",
        time=datetime.now(UTC),
        subject="o-1",
        correlation_id="c-1",
        traceparent=traceparent,
    )


def per_message(enter: Callable[[], AbstractContextManager[object]], messages: int) -> float:
    """CPU microseconds per `with enter(): pass`."""
    began = time.process_time()
    for _ in range(messages):
        with enter():
            pass
    return (time.process_time() - began) / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    install_tracer_provider("bench")
    tracing = Tracing("bench")
    tracer = trace.get_tracer("a4co.bench")
    unsampled, sampled = context(f"{PARENT}-00"), context(f"{PARENT}-01")
    parent = parse_traceparent(unsampled.traceparent)
    assert parent is not None

    def built_and_dropped() -> AbstractContextManager[object]:
        ctx = trace.set_span_in_context(NonRecordingSpan(parent))
        return tracer.start_as_current_span(
            "order.ping.v1 receive",
            context=ctx,
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.message.id": "m-1"},
        )

    rows = [
        ("unsampled trace: span built, then dropped (baseline)", built_and_dropped),
        ("unsampled trace: Tracing.consuming", lambda: tracing.consuming(SUBSCRIPTION, unsampled)),
        ("sampled trace: Tracing.consuming", lambda: tracing.consuming(SUBSCRIPTION, sampled)),
        ("no trace: Tracing.consuming", lambda: tracing.consuming(SUBSCRIPTION, context(None))),
    ]
    figures = [(name, per_message(enter, args.messages)) for name, enter in rows]
    baseline = figures[0][1]
    print(f"{args.messages} messages each; CPU µs per message (ratio to the baseline)")
    for name, micros in figures:
        print(f"  {name:<55} {micros:6.1f}  ({micros / baseline:.2f}x)")


if __name__ == "__main__":
    main()
