"""What `make generate` writes for a message with two major versions side by side, on the
mini catalog: shop sends OrderPlaced v1 and v2 (its window open), stock receives v2; then
v1 kept for the store only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codegen.write import generate
from tests.contract.conftest import edit
from tests.contract.test_generation import tree
from tests.contract.test_lint import lint_findings

V2_CHANNEL = """  orderPlaced:
    address: shop.order_placed.v1
    x-deprecated: {replaced-by: shop.order_placed.v2, sunset: '2027-03-01'}
    messages:
      OrderPlaced: {$ref: '#/components/messages/OrderPlaced'}
  orderPlacedV2:
    address: shop.order_placed.v2
    x-replaces: shop.order_placed.v1
    messages:
      OrderPlaced: {$ref: '#/components/messages/OrderPlacedV2'}
"""
V2_SEND = """  sendOrderPlacedV2:
    action: send
    channel: {$ref: '#/channels/orderPlacedV2'}
    summary: Announce an order.
    messages: [{$ref: '#/channels/orderPlacedV2/messages/OrderPlaced'}]
  sendReserveItem:"""
V2_MESSAGE = """    OrderPlacedV2:
      name: OrderPlaced
      title: Order placed
      summary: A customer placed an order.
      contentType: application/json
      traits: [{$ref: '../schemas/envelope.yaml#/messageTraits/Envelope'}]
      payload: {$ref: '#/components/schemas/OrderPlacedV2'}
      examples:
        - name: one
          payload:
            order_id: 7d1c0b9e-2f0a-4a6e-9d8e-1f2a3b4c5d6e
            total: {amount_minor: 100, currency: EUR}
            placed_at: '2026-11-28T10:00:00Z'
            gift_note: Happy birthday.
    ReserveItem:
      name: ReserveItem"""
V2_SCHEMA = """    OrderPlacedV2:
      type: object
      description: Payload of OrderPlaced, version 2.
      additionalProperties: false
      required: [order_id, total, placed_at{required}]
      properties:
        order_id: {type: string, format: uuid, description: The order.}
        total: {$ref: '../schemas/common.yaml#/Money'}
        placed_at: {type: string, format: date-time, description: When.}
        {added}
    ReserveItem:
      type: object"""


def side_by_side(contracts: Path, added: str, required: str = "") -> None:
    """Shop sends OrderPlaced v1 and v2 (v2 adds `added`); stock receives v2."""
    shop, stock = contracts / "asyncapi" / "shop.yaml", contracts / "asyncapi" / "stock.yaml"
    edit(
        shop,
        "  orderPlaced:\n    address: shop.order_placed.v1\n    messages:\n"
        "      OrderPlaced: {$ref: '#/components/messages/OrderPlaced'}\n",
        V2_CHANNEL,
    )
    edit(shop, "  sendReserveItem:", V2_SEND)
    edit(shop, "    ReserveItem:\n      name: ReserveItem", V2_MESSAGE)
    edit(
        shop,
        "    ReserveItem:\n      type: object",
        V2_SCHEMA.replace("{added}", added).replace("{required}", required),
    )
    edit(
        stock,
        "orderPlaced: {$ref: 'shop.yaml#/channels/orderPlaced'}",
        "orderPlacedV2: {$ref: 'shop.yaml#/channels/orderPlacedV2'}",
    )
    edit(
        stock,
        "channel: {$ref: '#/channels/orderPlaced'}",
        "channel: {$ref: '#/channels/orderPlacedV2'}",
    )
    edit(
        stock,
        "'#/channels/orderPlaced/messages/OrderPlaced'",
        "'#/channels/orderPlacedV2/messages/OrderPlaced'",
    )


GIFT = "gift_note: {type: string, maxLength: 200, description: A note for the parcel.}"


def test_an_additive_v2_gets_both_models_generated_steps_two_durables_and_one_publisher(
    mini_copy: Callable[[], Path], tmp_path: Path
) -> None:
    contracts = mini_copy()
    side_by_side(contracts, GIFT)
    generate(contracts, tmp_path / "out")
    out = tree(tmp_path / "out")

    versions = out["versions.py"].decode()
    assert "convert=_order_placed_v1_to_v2" in versions
    assert "convert=_order_placed_v2_to_v1" in versions
    assert "Protocol" not in versions
    shop = out["shop/events.py"].decode()
    assert "async def order_placed_v2(" in shop and "async def order_placed(" not in shop
    assert "older=(OlderCopy(ORDER_PLACED, (ORDER_PLACED_V2_TO_V1,)),)" in shop
    assert "VERSION_STEPS: tuple[VersionStep, ...] = (ORDER_PLACED_V2_TO_V1,)" in shop
    stock = out["stock/events.py"].decode()
    assert 'durable="stock_on_order_placed_v2"' in stock
    assert 'durable="stock_on_order_placed"' in stock
    assert "upcasting=Upcasting((ORDER_PLACED_V1_TO_V2,), ORDER_PLACED_V2)" in stock
    assert "class OrderPlacedV2(BaseModel)" in out["stock/models.py"].decode()
    assert "class OrderPlaced(BaseModel)" in out["stock/models.py"].decode()
    permissions = out["bus_permissions.py"].decode()
    assert '"shop.order_placed.v1"' in permissions and '"shop.order_placed.v2"' in permissions
    for durable, subject in (("stock_on_order_placed", "v1"), ("stock_on_order_placed_v2", "v2")):
        assert f"CONSUMER.CREATE.SHOP.{durable}.shop.order_placed.{subject}" in permissions

    generate(contracts, tmp_path / "again")
    assert tree(tmp_path / "again") == out


def test_a_v2_that_requires_a_new_field_leaves_its_owner_an_upcast_hook(
    mini_copy: Callable[[], Path], tmp_path: Path
) -> None:
    contracts = mini_copy()
    side_by_side(contracts, GIFT, required=", gift_note")
    generate(contracts, tmp_path / "out")
    versions = tree(tmp_path / "out")["versions.py"].decode()

    assert 'hook="services.shop.versions:order_placed_v1_to_v2"' in versions
    assert "class ShopVersions(Protocol):" in versions
    assert "def order_placed_v1_to_v2(self, payload: dict[str, Any])" in versions
    assert "convert=_order_placed_v2_to_v1" in versions  # v1 readers just lose the note


def test_a_v2_message_named_with_its_version_gets_the_same_names(
    mini_copy: Callable[[], Path], tmp_path: Path
) -> None:
    # Naming the v2 message `OrderPlacedV2` instead of `OrderPlaced` changes no code name:
    # no `OrderPlacedV2V2` model, no `stock_on_order_placed_v_2_v2` durable.
    contracts = mini_copy()
    side_by_side(contracts, GIFT)
    edit(
        contracts / "asyncapi" / "shop.yaml",
        "      name: OrderPlaced\n      title: Order placed\n"
        "      summary: A customer placed an order.\n      contentType: application/json\n"
        "      traits: [{$ref: '../schemas/envelope.yaml#/messageTraits/Envelope'}]\n"
        "      payload: {$ref: '#/components/schemas/OrderPlacedV2'}",
        "      name: OrderPlacedV2\n      title: Order placed\n"
        "      summary: A customer placed an order.\n      contentType: application/json\n"
        "      traits: [{$ref: '../schemas/envelope.yaml#/messageTraits/Envelope'}]\n"
        "      payload: {$ref: '#/components/schemas/OrderPlacedV2'}",
    )
    generate(contracts, tmp_path / "out")
    out = tree(tmp_path / "out")

    stock = out["stock/events.py"].decode()
    assert 'durable="stock_on_order_placed_v2"' in stock
    assert 'durable="stock_on_order_placed"' in stock
    assert "async def on_order_placed(" in stock
    assert "class OrderPlacedV2(BaseModel)" in out["stock/models.py"].decode()
    assert "V2V2" not in stock + out["stock/models.py"].decode()
    assert "convert=_order_placed_v1_to_v2" in out["versions.py"].decode()
    assert "async def order_placed_v2(" in out["shop/events.py"].decode()


def stored_only(contracts: Path) -> None:
    """After the window: shop sends v2 only and keeps v1 for its event store alone."""
    shop = contracts / "asyncapi" / "shop.yaml"
    edit(
        shop,
        "    x-deprecated: {replaced-by: shop.order_placed.v2, sunset: '2027-03-01'}\n",
        "    x-stored-only: true\n",
    )
    edit(
        shop,
        "  sendOrderPlaced:\n    action: send\n    channel: {$ref: '#/channels/orderPlaced'}\n"
        "    summary: Announce an order.\n"
        "    messages: [{$ref: '#/channels/orderPlaced/messages/OrderPlaced'}]\n",
        "",
    )


def test_a_stored_only_v1_keeps_its_model_and_upcast_and_leaves_the_bus(
    mini_copy: Callable[[], Path], tmp_path: Path
) -> None:
    contracts = mini_copy()
    side_by_side(contracts, GIFT)
    stored_only(contracts)
    assert lint_findings(contracts, "VERSION_STORED_ONLY", "VERSION_LINKS") == []
    generate(contracts, tmp_path / "out")
    out = tree(tmp_path / "out")

    versions = out["versions.py"].decode()
    assert "ORDER_PLACED_V1_TO_V2 = VersionStep(" in versions
    assert "convert=_order_placed_v1_to_v2" in versions
    assert "_order_placed_v2_to_v1" not in versions  # nothing publishes a v1 copy
    shop_models = out["shop/models.py"].decode()
    assert "class OrderPlaced(BaseModel)" in shop_models  # the owner reads v1 back
    assert "class OrderPlacedV2(BaseModel)" in shop_models
    shop = out["shop/events.py"].decode()
    assert "async def order_placed_v2(" in shop
    assert "OlderCopy" not in shop and "ORDER_PLACED =" not in shop
    stock = out["stock/events.py"].decode()
    assert 'durable="stock_on_order_placed_v2"' in stock
    assert 'durable="stock_on_order_placed"' not in stock and "Upcasting" not in stock
    assert "class OrderPlaced(BaseModel)" not in out["stock/models.py"].decode()
    permissions = out["bus_permissions.py"].decode()
    assert "shop.order_placed.v2" in permissions
    assert "shop.order_placed.v1" not in permissions

    generate(contracts, tmp_path / "again")
    assert tree(tmp_path / "again") == out


def test_stored_only_versions_chain_their_upcasts_to_the_newest(
    mini_copy: Callable[[], Path], tmp_path: Path
) -> None:
    # v1 and v2 both kept for the store, v3 on the bus: a v1 row is read as v3.
    contracts = mini_copy()
    side_by_side(contracts, GIFT)
    stored_only(contracts)
    shop = contracts / "asyncapi" / "shop.yaml"
    edit(
        shop,
        "  orderPlacedV2:\n    address: shop.order_placed.v2\n"
        "    x-replaces: shop.order_placed.v1\n",
        "  orderPlacedV2:\n    address: shop.order_placed.v2\n"
        "    x-replaces: shop.order_placed.v1\n    x-stored-only: true\n",
    )
    edit(
        shop,
        "      OrderPlaced: {$ref: '#/components/messages/OrderPlacedV2'}\n",
        "      OrderPlaced: {$ref: '#/components/messages/OrderPlacedV2'}\n"
        "  orderPlacedV3:\n    address: shop.order_placed.v3\n"
        "    x-replaces: shop.order_placed.v2\n    messages:\n"
        "      OrderPlaced: {$ref: '#/components/messages/OrderPlacedV2'}\n",
    )
    for name in ("shop", "stock"):
        document = contracts / "asyncapi" / f"{name}.yaml"
        text = document.read_text(encoding="utf-8").replace("orderPlacedV2'", "orderPlacedV3'")
        text = text.replace("orderPlacedV2/", "orderPlacedV3/").replace(
            "  orderPlacedV2: {$ref", "  orderPlacedV3: {$ref"
        )
        document.write_text(text, encoding="utf-8")
    assert lint_findings(contracts, "VERSION_STORED_ONLY", "VERSION_LINKS") == []
    generate(contracts, tmp_path / "out")
    out = tree(tmp_path / "out")

    versions = out["versions.py"].decode()
    assert "ORDER_PLACED_V1_TO_V2 = VersionStep(" in versions
    assert "ORDER_PLACED_V2_TO_V3 = VersionStep(" in versions
    assert "_V3_TO_V2" not in versions and "_V2_TO_V1" not in versions
    models = out["shop/models.py"].decode()
    for name in ("OrderPlaced", "OrderPlacedV2", "OrderPlacedV3"):
        assert f"class {name}(BaseModel)" in models
    stock = out["stock/events.py"].decode()
    assert 'durable="stock_on_order_placed_v3"' in stock and "Upcasting" not in stock
    assert "shop.order_placed.v2" not in out["bus_permissions.py"].decode()
