"""Tolerant readers on a real nats-server: a subscriber handles a message that carries fields
its generated model does not declare, at any depth, instead of dead-lettering it.

The shipping service's model of OrderConfirmed is the reader; the order service's closed
model is the writer, and a subclass of it with one more optional field stands for the
producer's next contract while shipping still runs on the current one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from pydantic import BaseModel

from generated.order import models as order
from generated.shipping import models as shipping
from runtime.bus import (
    Channel,
    ConsumerPolicy,
    MessageContext,
    StreamSpec,
    Subscription,
    bind_handlers,
)
from runtime.bus.envelope import build_headers
from runtime.bus.nats import ConsumerRunner, NatsEventSink, ensure_streams, list_dead_letters
from tests.e2e.harness import eventually
from tests.unit.test_reader_tolerance import confirmed_example, with_unknown_fields

POLICY = ConsumerPolicy(max_deliver=3, ack_wait=5.0, backoff=(0.05, 0.1), concurrency=2)


class OrderConfirmedWithGiftNote(order.OrderConfirmed):
    """The producer's next contract: OrderConfirmed with an optional gift note."""

    gift_note: str | None = None


@dataclass
class Shipping:
    """A shipping-like subscriber that records the confirmations it handles."""

    handled: list[shipping.OrderConfirmed] = field(default_factory=list)

    async def on_order_confirmed(
        self, message: shipping.OrderConfirmed, context: MessageContext
    ) -> None:
        """Record the confirmation as the reader's model decoded it."""
        self.handled.append(message)


@dataclass
class Wire:
    """One test's connection, stream and OrderConfirmed subject, unique to the test."""

    nc: Client
    uid: str

    @property
    def subject(self) -> str:
        """The test's own subject for OrderConfirmed."""
        return f"t{self.uid}.order_confirmed.v1"

    def channel(self, model: type[BaseModel]) -> Channel[Any]:
        """The test's channel, typed with one side's model."""
        return Channel(
            subject=self.subject, message="OrderConfirmed", model=model, kind="event", owner="order"
        )

    def subscription(self) -> Subscription:
        """Shipping's durable consumer of the test's channel."""
        return Subscription(
            channel=self.channel(shipping.OrderConfirmed),
            stream=f"T{self.uid}",
            durable=f"shipping{self.uid}-on-order-confirmed",
            handler="on_order_confirmed",
            operation="receiveOrderConfirmed",
            policy=POLICY,
        )


@pytest.fixture
async def wire(nats_url: str, unique_id: str) -> AsyncIterator[Wire]:
    """A connection and a stream of the test's own."""
    nc = await nats.connect(nats_url)
    spec = StreamSpec(name=f"T{unique_id}", subjects=(f"t{unique_id}.>",), max_age=600.0)
    await ensure_streams(nc.jetstream(), (spec,))
    yield Wire(nc=nc, uid=unique_id)
    await nc.jetstream().delete_stream(f"T{unique_id}")
    await nc.close()


async def handled_and_acked(wire: Wire, subscriber: Shipping, count: int) -> None:
    """Wait until the subscriber handled `count` messages and the consumer acked them all;
    then check that nothing went to the dead-letter queue."""
    sub = wire.subscription()
    js = wire.nc.jetstream()

    async def settled() -> bool:
        info = await js.consumer_info(sub.stream, sub.durable)
        done = info.num_ack_pending == 0 and info.num_pending == 0
        return len(subscriber.handled) == count and done

    service = f"shipping{wire.uid}"
    bound = bind_handlers(service, subscriber, (sub,))
    runner = ConsumerRunner(wire.nc, service, bound, fetch_timeout=0.2)
    await runner.start()
    try:
        await eventually(settled)
    finally:
        await runner.stop()
    assert await list_dead_letters(js, service=service) == []


async def test_a_subscriber_handles_a_message_with_fields_its_model_does_not_declare(
    wire: Wire,
) -> None:
    data = json.dumps(with_unknown_fields(confirmed_example())).encode()
    headers = build_headers(wire.channel(shipping.OrderConfirmed), aggregate_id="order-1")
    await wire.nc.jetstream().publish(wire.subject, data, headers=headers)
    subscriber = Shipping()

    await handled_and_acked(wire, subscriber, 1)

    assert subscriber.handled == [shipping.OrderConfirmed.model_validate(confirmed_example())]


async def test_a_subscriber_on_the_previous_contract_reads_a_new_optional_field(
    wire: Wire,
) -> None:
    newer = OrderConfirmedWithGiftNote.model_validate({**confirmed_example(), "gift_note": "hi"})
    sink = NatsEventSink(wire.nc)
    await sink.send(wire.channel(OrderConfirmedWithGiftNote), newer, aggregate_id="order-1")
    subscriber = Shipping()

    await handled_and_acked(wire, subscriber, 1)

    (handled,) = subscriber.handled
    assert handled.order_id == newer.order_id
    assert handled.total.amount_minor == newer.total.amount_minor
    assert not hasattr(handled, "gift_note")
