"""Which steps between versions the generator writes, and which it leaves to the owner."""

from __future__ import annotations

from typing import Any

from codegen.loader import Ref
from codegen.model import Channel, Message
from codegen.upcasters import _downcast, _upcast

PLACE = Ref("contracts/asyncapi/shop.yaml", "/channels/x")


def channel(major: int) -> Channel:
    message = Message("OrderPlaced", "", "", "", PLACE, (), PLACE)
    return Channel("x", f"shop.order_placed.v{major}", "", "shop", message, PLACE)


def payload(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


ID = {"type": "string", "format": "uuid", "description": "The order."}
STATUS = {"type": "string", "enum": ["new", "paid"]}


def test_an_added_optional_field_with_a_default_is_generated_both_ways() -> None:
    v1 = payload(["id"], id=ID)
    v2 = payload(
        ["id"], id={**ID, "description": "Reworded."}, gift={"type": "boolean", "default": False}
    )

    up, down = _upcast(channel(1), channel(2), v1, v2), _downcast(channel(2), channel(1), v2, v1)

    assert up.body == "return {'gift': False, **payload}"
    assert down.body == "return {k: v for k, v in payload.items() if k in {'id'}}"
    assert eval(f"lambda payload: {down.body[7:]}")({"id": 1, "gift": True}) == {"id": 1}


def test_an_enum_that_only_gained_values_upcasts_but_its_downcast_is_a_hook() -> None:
    v1 = payload(["id", "status"], id=ID, status=STATUS)
    v2 = payload(["id", "status"], id=ID, status={**STATUS, "enum": ["new", "paid", "lost"]})

    up, down = _upcast(channel(1), channel(2), v1, v2), _downcast(channel(2), channel(1), v2, v1)

    assert (up.body, up.why) == ("return dict(payload)", "status gains lost")
    assert down.body is None


def test_a_new_required_field_a_dropped_one_or_a_changed_type_is_a_hook() -> None:
    v1 = payload(["id"], id=ID, note={"type": "string"})
    required = payload(["id", "note"], id=ID, note={"type": "string"})
    dropped = payload(["id"], id=ID)
    retyped = payload(["id"], id=ID, note={"type": "integer"})

    for v2 in (required, dropped, retyped):
        assert _upcast(channel(1), channel(2), v1, v2).body is None, v2
