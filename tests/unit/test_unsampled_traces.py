"""A handled message or an answered request whose trace is not sampled gets no span: the
trace goes on unchanged. A sampled one, or one that starts a trace, still gets its span."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, SamplingResult
from pydantic import BaseModel

from runtime.bus.base import Channel, MessageContext, Subscription
from runtime.http.app import create_app
from runtime.observability import Tracing, current_traceparent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE}-{PARENT}-01"
UNSAMPLED = f"00-{TRACE}-{PARENT}-00"


class Ping(BaseModel):
    n: int


SUBSCRIPTION = Subscription(
    channel=Channel(subject="order.ping.v1", message="Ping", model=Ping, kind="event", owner="t"),
    stream="ORDER",
    durable="t_on_ping",
    handler="on_ping",
    operation="receivePing",
)


class Counting(Sampler):
    """The platform's sampler (runtime.spans) at ratio 1, counting the spans it is asked about."""

    def __init__(self) -> None:
        self.inner = ParentBased(ALWAYS_ON)
        self.asked = 0

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.asked += 1
        return self.inner.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "counting"


@dataclass
class Traced:
    provider: TracerProvider
    exporter: InMemorySpanExporter
    sampler: Counting


@pytest.fixture
def recorded() -> Iterator[Traced]:
    sampler = Counting()
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Traced(provider, exporter, sampler)
    provider.shutdown()


def context(traceparent: str | None) -> MessageContext:
    return MessageContext(
        id="m-1",
        type="a4co.order.ping.v1",
        source="/services/t",
        time=datetime(2026, 12, 6, tzinfo=UTC),
        subject="o-1",
        correlation_id="c-1",
        traceparent=traceparent,
    )


def handle(tracing: Tracing, traceparent: str | None) -> str | None:
    """What a message sent by the handler would carry."""
    with tracing.consuming(SUBSCRIPTION, context(traceparent)):
        return current_traceparent()


def test_a_message_of_an_unsampled_trace_gets_no_span_and_carries_the_trace_on(
    recorded: Traced,
) -> None:
    assert handle(Tracing("t", recorded.provider), UNSAMPLED) == UNSAMPLED
    assert recorded.sampler.asked == 0  # no span was even started to be dropped
    assert recorded.exporter.get_finished_spans() == ()


def test_a_message_of_a_sampled_trace_gets_a_child_span(recorded: Traced) -> None:
    sent = handle(Tracing("t", recorded.provider), SAMPLED)
    (span,) = recorded.exporter.get_finished_spans()
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert f"{span.context.trace_id:032x}" == TRACE
    assert sent == f"00-{TRACE}-{span.context.span_id:016x}-01"


def test_a_message_with_no_trace_starts_one_as_the_sampler_says(recorded: Traced) -> None:
    sent = handle(Tracing("t", recorded.provider), None)
    (span,) = recorded.exporter.get_finished_spans()
    assert recorded.sampler.asked == 1 and span.parent is None and sent is not None
    assert sent.split("-")[2] == f"{span.context.span_id:016x}" and int(sent[-2:], 16) & 1


async def answer(provider: TracerProvider, traceparent: str) -> str:
    """The traceparent a handler of a request carrying `traceparent` would send on."""
    router = APIRouter()

    @router.get("/where")
    async def where() -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    app = create_app("t", [router], tracing=True, tracer_provider=provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/where", headers={"traceparent": traceparent})
    assert response.status_code == 200, response.text
    value: str = response.json()["traceparent"]
    return value


async def test_a_request_of_an_unsampled_trace_gets_no_server_span(recorded: Traced) -> None:
    carried = await answer(recorded.provider, UNSAMPLED)
    assert carried == UNSAMPLED  # no span of ours, nor of FastAPI's own telemetry
    assert recorded.sampler.asked == 0


async def test_a_request_of_a_sampled_trace_gets_its_server_span(recorded: Traced) -> None:
    carried = await answer(recorded.provider, SAMPLED)
    (span,) = recorded.exporter.get_finished_spans()  # ours alone: one server span a request
    assert span.name == "GET /where"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert carried.split("-")[1] == TRACE and carried != SAMPLED


async def test_a_request_gets_one_server_span_even_with_a_process_wide_provider(
    recorded: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's own telemetry starts spans from the process's provider when one is set
    # (every service installs one): it is turned off, so ours is the request's only span.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", recorded.provider)
    assert trace.get_tracer_provider() is recorded.provider
    await answer(recorded.provider, SAMPLED)
    assert [s.name for s in recorded.exporter.get_finished_spans()] == ["GET /where"]
