"""Tolerant readers, closed writers: what the generated models and `Channel.read` accept.

The order service sends OrderConfirmed and the shipping service receives it, so the same
contract gives a closed model in `generated.order` and a tolerant one in `generated.shipping`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from generated.order import events as order_events
from generated.order import models as order
from generated.shipping import events as shipping_events
from generated.shipping import models as shipping

ORDER_CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi" / "order.yaml"


def confirmed_example() -> dict[str, Any]:
    """The OrderConfirmed example of the order contract, as JSON values."""
    document = yaml.safe_load(ORDER_CONTRACT.read_text(encoding="utf-8"))
    payload: dict[str, Any] = document["components"]["messages"]["OrderConfirmed"]["examples"][0][
        "payload"
    ]
    return payload


def with_unknown_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a field no contract declares at the top, in a line and in the address."""
    extended = json.loads(json.dumps(payload))
    extended["gift_note"] = "for mum"
    extended["items"][0]["engraving"] = "A"
    extended["delivery"]["address"]["floor"] = 3
    return extended


def test_a_received_message_model_ignores_fields_a_sent_one_refuses() -> None:
    assert shipping.OrderConfirmed.model_config["extra"] == "ignore"
    assert order.OrderConfirmed.model_config["extra"] == "forbid"
    assert order.PlaceOrderRequest.model_config["extra"] == "forbid"  # REST body: closed


def test_a_producers_model_refuses_an_unknown_field_at_any_depth() -> None:
    example = confirmed_example()
    with pytest.raises(ValidationError, match="gift_note"):
        order.OrderConfirmed.model_validate({**example, "gift_note": "for mum"})
    with pytest.raises(ValidationError, match="rounding"):
        order.Money(amount_minor=1, currency="EUR", rounding="up")  # type: ignore[call-arg]
    assert order.OrderConfirmed.model_validate(example).order_id  # the example itself passes


def test_a_rest_request_body_refuses_an_unknown_field() -> None:
    body = {
        "customer_id": "0b6f3c2a-1d4e-4f5a-8b9c-0d1e2f3a4b5c",
        "items": [{"product_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "quantity": 1}],
        "delivery": {"method": "pickup"},
        "card_token": "tok_visa_ok",
    }
    assert order.PlaceOrderRequest.model_validate(body).card_token == "tok_visa_ok"
    with pytest.raises(ValidationError, match="coupon"):
        order.PlaceOrderRequest.model_validate({**body, "coupon": "SPRING"})


def test_a_channel_reads_unknown_fields_past_nested_classes_shared_with_writers() -> None:
    # In shipping, Address is also part of its REST responses, so its class stays closed:
    # only reading through the channel makes it tolerant inside a received message.
    data = json.dumps(with_unknown_fields(confirmed_example())).encode()
    assert shipping.Address.model_config["extra"] == "forbid"
    with pytest.raises(ValidationError, match="floor"):
        shipping.OrderConfirmed.model_validate_json(data)

    read = shipping_events.ORDER_CONFIRMED.read(data)

    assert read == shipping.OrderConfirmed.model_validate(confirmed_example())
    assert "gift_note" not in read.model_dump()


def test_the_sending_and_the_receiving_channel_share_a_subject() -> None:
    assert order_events.ORDER_CONFIRMED.subject == shipping_events.ORDER_CONFIRMED.subject
    assert order_events.ORDER_CONFIRMED.model is order.OrderConfirmed
    assert shipping_events.ORDER_CONFIRMED.model is shipping.OrderConfirmed
