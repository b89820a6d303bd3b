"""A handled message or an answered request whose trace is not sampled gets no span: the
trace goes on unchanged. A sampled one, or one that starts a trace, still gets its span."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
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


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    # The platform's sampler (runtime.spans) at ratio 1: a trace begun here is recorded.
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
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
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    assert handle(Tracing("t", provider), UNSAMPLED) == UNSAMPLED
    assert exporter.get_finished_spans() == ()


def test_a_message_of_a_sampled_trace_gets_a_child_span(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    sent = handle(Tracing("t", provider), SAMPLED)
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert f"{span.context.trace_id:032x}" == TRACE
    assert sent == f"00-{TRACE}-{span.context.span_id:016x}-01"


def test_a_message_with_no_trace_starts_one_as_the_sampler_says(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    sent = handle(Tracing("t", provider), None)
    (span,) = exporter.get_finished_spans()
    assert span.parent is None and sent is not None
    assert sent.split("-")[2] == f"{span.context.span_id:016x}" and int(sent[-2:], 16) & 1


async def answer(provider: TracerProvider, traceparent: str) -> str:
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


async def test_a_request_of_an_unsampled_trace_gets_no_server_span(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    assert await answer(provider, UNSAMPLED) == UNSAMPLED
    ours = [s for s in exporter.get_finished_spans() if s.name == "GET /where"]
    assert ours == []


async def test_a_request_of_a_sampled_trace_gets_its_server_span(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    carried = await answer(provider, SAMPLED)
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET /where"]
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert carried.split("-")[1] == TRACE and carried != SAMPLED
