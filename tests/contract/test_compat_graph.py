"""Whole-graph lint rules built on schema compatibility: receivers read what senders publish,
every sent message has a receiver, every consumer filter lies inside its stream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codegen.build import build_catalog
from codegen.errors import Finding
from codegen.lint.graph import (
    consumer_filter_in_stream,
    message_has_receiver,
    receive_payload_compatible,
    receive_payload_undecided,
)
from codegen.loader import Workspace
from tests.contract.conftest import CONTRACTS, edit


def run(rule: Callable[..., object], root: Path) -> list[Finding]:
    workspace = Workspace(root)
    found = rule(workspace, build_catalog(workspace))
    return list(found)  # type: ignore[call-overload]


OWN_MESSAGE = """components:
  messages:
    OrderPlacedSeen:
      name: OrderPlaced
      title: Order placed, as stock reads it
      summary: Stock's own reading of an order.
      contentType: application/json
      payload:
        type: object
        additionalProperties: false
        required: [order_id, total, placed_at, channel]
        properties:
          order_id: {type: string, format: uuid, description: The order.}
          total: {type: object, description: Money.}
          placed_at: {type: string, description: When.}
          channel: {type: string, description: Where it was placed.}
"""


def test_a_receiver_with_its_own_incompatible_payload_is_an_error(
    mini_copy: Callable[[], Path],
) -> None:
    root = mini_copy()
    stock = root / "asyncapi" / "stock.yaml"
    edit(
        stock,
        "    messages: [{$ref: '#/channels/orderPlaced/messages/OrderPlaced'}]",
        "    messages: [{$ref: '#/components/messages/OrderPlacedSeen'}]",
    )
    edit(stock, "components:\n  messages:\n", OWN_MESSAGE)
    found = run(receive_payload_compatible, root)
    assert [f.file for f in found] == ["contracts/asyncapi/stock.yaml"]
    assert "field channel is required but not declared by the writer" in found[0].message
    assert run(receive_payload_undecided, root) == []


def test_receivers_that_ref_the_owners_channel_are_compatible(
    mini_copy: Callable[[], Path],
) -> None:
    root = mini_copy()
    assert run(receive_payload_compatible, root) == []
    assert run(receive_payload_undecided, root) == []


def test_a_message_nobody_receives_is_a_warning(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi" / "stock.yaml",
        "  receiveOrderPlaced:\n    action: receive\n"
        "    channel: {$ref: '#/channels/orderPlaced'}\n"
        "    summary: Count orders.\n"
        "    messages: [{$ref: '#/channels/orderPlaced/messages/OrderPlaced'}]\n",
        "",
    )
    found = run(message_has_receiver, root)
    assert [f.pointer for f in found] == ["/operations/sendOrderPlaced"]
    assert "shop.order_placed.v1 is sent but no service receives it" in found[0].message


def test_a_consumer_filter_outside_its_stream_is_an_error(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    shop = root / "asyncapi" / "shop.yaml"
    edit(
        shop,
        "x-consumer: {max_deliver: 3,",
        "x-consumer: {filter_subject: 'shop.>', max_deliver: 3,",
    )
    found = run(consumer_filter_in_stream, root)
    assert [f.pointer for f in found] == [
        "/operations/receiveItemReserved/x-consumer/filter_subject"
    ]


def test_a_consumer_filter_inside_its_stream_passes(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    shop = root / "asyncapi" / "shop.yaml"
    edit(
        shop,
        "x-consumer: {max_deliver: 3,",
        "x-consumer: {filter_subject: 'stock.*.v1', max_deliver: 3,",
    )
    assert run(consumer_filter_in_stream, root) == []


def test_the_real_contracts_pass_the_graph_rules() -> None:
    for rule in (receive_payload_compatible, consumer_filter_in_stream):
        assert run(rule, CONTRACTS) == []
