"""Generated events modules: typed publisher, handler binding that fails at start-up."""

from __future__ import annotations

from typing import Any

import pytest

from generated.order.events import SUBSCRIPTIONS, Publisher
from generated.order.models import CommitStock
from runtime.bus import Channel, MessageContext, bind_handlers
from runtime.errors import ConfigurationError


class RecordingSink:
    """An EventSink that records what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[Channel[Any], Any, str]] = []

    async def send(
        self,
        channel: Channel[Any],
        payload: Any,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        self.sent.append((channel, payload, aggregate_id))
        return message_id or "generated-id"


async def test_publisher_method_sends_on_its_channel() -> None:
    sink = RecordingSink()
    payload = CommitStock(order_id="7d1c0b9e-2f0a-4a6e-9d8e-1f2a3b4c5d6e")  # type: ignore[arg-type]
    message_id = await Publisher(sink).commit_stock(payload, aggregate_id="order-1")
    assert message_id == "generated-id"
    channel, sent, aggregate = sink.sent[0]
    assert (channel.subject, channel.kind, channel.owner) == (
        "inventory.cmd.commit_stock.v1",
        "command",
        "order",
    )
    assert channel.ce_type == "a4co.inventory.cmd.commit_stock.v1"
    assert sent is payload and aggregate == "order-1"


class AllHandlers:
    async def on_stock_reserved(self, message: Any, context: MessageContext) -> None: ...
    async def on_stock_reservation_failed(self, message: Any, context: MessageContext) -> None: ...
    async def on_stock_released(self, message: Any, context: MessageContext) -> None: ...
    async def on_payment_succeeded(self, message: Any, context: MessageContext) -> None: ...
    async def on_payment_failed(self, message: Any, context: MessageContext) -> None: ...
    async def on_shipment_dispatched(self, message: Any, context: MessageContext) -> None: ...
    async def on_shipment_delivered(self, message: Any, context: MessageContext) -> None: ...
    async def on_new_product_listed(self, message: Any, context: MessageContext) -> None: ...


def test_every_subscription_binds_to_its_handler() -> None:
    bound = bind_handlers("order", AllHandlers(), SUBSCRIPTIONS)
    assert [b.subscription.handler for b in bound] == [s.handler for s in SUBSCRIPTIONS]
    assert all(callable(b.handle) for b in bound)


def test_missing_handler_fails_at_start_up_naming_it() -> None:
    class Incomplete(AllHandlers):
        on_payment_failed = None  # type: ignore[assignment]

    with pytest.raises(ConfigurationError) as caught:
        bind_handlers("order", Incomplete(), SUBSCRIPTIONS)
    assert "on_payment_failed (receivePaymentFailed)" in str(caught.value)
    assert "Incomplete" in str(caught.value)
