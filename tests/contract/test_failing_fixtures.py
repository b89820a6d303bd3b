"""Each validation and catalog check fails on a broken copy of the mini catalog, with its place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codegen.errors import ContractErrors, Finding
from codegen.lint import LINT
from codegen.pipeline import load_catalog
from tests.contract.conftest import edit


def findings_of(contracts: Path) -> list[Finding]:
    with pytest.raises(ContractErrors) as caught:
        load_catalog(contracts)
    return caught.value.findings


def assert_found(findings: list[Finding], rule: str, file: str, pointer: str) -> None:
    places = [(f.rule, f.file, f.pointer) for f in findings]
    assert (rule, file, pointer) in places, f"expected {rule} at {file}#{pointer}, got {places}"


def test_mini_catalog_is_valid(mini_copy: Callable[[], Path]) -> None:
    _, catalog = load_catalog(mini_copy())
    assert sorted(catalog.services) == ["shop", "stock"]
    assert {c.subject for c in catalog.channels.values()} == {
        "shop.order_placed.v1",
        "stock.cmd.reserve_item.v1",
        "stock.item_reserved.v1",
    }


def test_broken_ref_names_file_and_pointer(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/stock.yaml", "shop.yaml#/channels/orderPlaced", "shop.yaml#/channels/nope"
    )
    findings = findings_of(root)
    assert_found(
        findings, "REF_UNRESOLVED", "contracts/asyncapi/stock.yaml", "/channels/orderPlaced"
    )
    assert "no 'nope'" in str(findings[0])


def test_ref_to_missing_file_names_the_file(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/shop.yaml",
        "'../schemas/common.yaml#/Money'",
        "'../schemas/gone.yaml#/Money'",
    )
    findings = findings_of(root)
    assert_found(
        findings,
        "REF_UNRESOLVED",
        "contracts/asyncapi/shop.yaml",
        "/components/schemas/OrderPlaced/properties/total",
    )
    assert any("no file contracts/schemas/gone.yaml" in f.message for f in findings)


def test_invalid_message_example_names_the_field(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/shop.yaml",
        "order_id: 7d1c0b9e-2f0a-4a6e-9d8e-1f2a3b4c5d6e, quantity: 2}",
        "order_id: 7d1c0b9e-2f0a-4a6e-9d8e-1f2a3b4c5d6e, quantity: 0}",
    )
    assert_found(
        findings_of(root),
        "EXAMPLE_INVALID",
        "contracts/asyncapi/shop.yaml",
        "/components/messages/ReserveItem/examples/0/payload/quantity",
    )


def test_invalid_rest_example_names_the_field(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(root / "openapi/shop.yaml", "one: {value: {quantity: 2}}", "one: {value: {quantity: two}}")
    assert_found(
        findings_of(root),
        "EXAMPLE_INVALID",
        "contracts/openapi/shop.yaml",
        "/paths/~1orders/post/requestBody/content/application~1json/examples/one/value/quantity",
    )


def test_channel_sent_by_two_services(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/stock.yaml",
        "  receiveOrderPlaced:\n    action: receive",
        "  receiveOrderPlaced:\n    action: send",
    )
    assert_found(
        findings_of(root),
        "CHANNEL_SINGLE_SENDER",
        "contracts/asyncapi/stock.yaml",
        "/operations/receiveOrderPlaced",
    )


def test_subject_defined_twice(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/stock.yaml",
        "address: stock.item_reserved.v1",
        "address: shop.order_placed.v1",
    )
    findings = findings_of(root)
    assert any(f.rule == "CHANNEL_SINGLE_SENDER" and "also defined" in f.message for f in findings)


def test_subject_outside_every_stream(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/shop.yaml",
        "address: shop.order_placed.v1",
        "address: cart.order_placed.v1",
    )
    assert_found(
        findings_of(root),
        "SUBJECT_ONE_STREAM",
        "contracts/asyncapi/shop.yaml",
        "/channels/orderPlaced/address",
    )


def test_subject_captured_by_two_streams(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "platform.yaml",
        "subjects: ['stock.>']",
        "subjects: ['stock.>', 'shop.order_placed.v1']",
    )
    assert_found(
        findings_of(root),
        "SUBJECT_ONE_STREAM",
        "contracts/asyncapi/shop.yaml",
        "/channels/orderPlaced/address",
    )


def test_subject_not_named_after_its_message(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(root / "asyncapi/shop.yaml", "address: shop.order_placed.v1", "address: shop.OrderPlaced")
    assert_found(
        findings_of(root),
        "SUBJECT_NAMING",
        "contracts/asyncapi/shop.yaml",
        "/channels/orderPlaced/address",
    )


def test_event_not_in_past_tense(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(root / "asyncapi/stock.yaml", "      name: ItemReserved", "      name: ItemReservation")
    assert_found(
        findings_of(root),
        "MESSAGE_TENSE",
        "contracts/asyncapi/stock.yaml",
        "/components/messages/ItemReserved",
    )


def test_command_not_imperative(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(root / "asyncapi/shop.yaml", "      name: ReserveItem", "      name: ItemReserved")
    assert_found(
        findings_of(root),
        "MESSAGE_TENSE",
        "contracts/asyncapi/shop.yaml",
        "/components/messages/ReserveItem",
    )


def test_field_not_snake_case(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "openapi/shop.yaml",
        "        quantity: {type: integer, minimum: 1, maximum: 1000, description: Units.}\n"
        "    Order:",
        "        orderQuantity: {type: integer, minimum: 1, maximum: 1000, description: Units.}\n"
        "    Order:",
    )
    edit(root / "openapi/shop.yaml", "required: [quantity]", "required: [orderQuantity]")
    edit(
        root / "openapi/shop.yaml",
        "one: {value: {quantity: 2}}",
        "one: {value: {orderQuantity: 2}}",
    )
    assert_found(
        findings_of(root),
        "FIELD_SNAKE_CASE",
        "contracts/openapi/shop.yaml",
        "/components/schemas/PlaceOrder/properties/orderQuantity",
    )


def test_asyncapi_meta_schema_violation(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/shop.yaml",
        "  sendOrderPlaced:\n    action: send",
        "  sendOrderPlaced:\n    action: publish",
    )
    assert_found(
        findings_of(root),
        "ASYNCAPI_SCHEMA",
        "contracts/asyncapi/shop.yaml",
        "/operations/sendOrderPlaced/action",
    )


def test_openapi_meta_schema_violation(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "openapi/shop.yaml",
        "        '201':\n          description: Placed.\n",
        "        '201':\n          summary: Placed.\n",
    )
    findings = findings_of(root)
    assert any(
        f.rule == "OPENAPI_SCHEMA" and f.file == "contracts/openapi/shop.yaml" for f in findings
    )


def test_flow_mapping_comma_is_caught(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "asyncapi/shop.yaml", "description: The order.}", "description: The order, placed.}"
    )
    assert_found(
        findings_of(root),
        "SCHEMA_KEYWORD",
        "contracts/asyncapi/shop.yaml",
        "/components/schemas/OrderPlaced/properties/order_id/placed.",
    )


def test_schema_name_clash(mini_copy: Callable[[], Path]) -> None:
    root = mini_copy()
    edit(
        root / "openapi/shop.yaml",
        "    Order:\n      type: object\n      description: An order.",
        "    Money:\n      type: object\n      description: An order.",
    )
    edit(
        root / "openapi/shop.yaml",
        "    PlaceOrder:\n",
        "    Order: {$ref: '#/components/schemas/Money'}\n    PlaceOrder:\n",
    )
    edit(
        root / "openapi/shop.yaml",
        "properties:\n        order_id",
        "properties:\n        total: {$ref: '../schemas/common.yaml#/Money'}\n        order_id",
    )
    findings = findings_of(root)
    assert any(f.rule == "SCHEMA_NAME_CLASH" for f in findings), findings


def test_every_catalog_check_is_a_lint_rule_with_a_purpose() -> None:
    for rule_id in (
        "CHANNEL_SINGLE_SENDER",
        "SUBJECT_ONE_STREAM",
        "SUBJECT_NAMING",
        "MESSAGE_TENSE",
        "FIELD_SNAKE_CASE",
        "OPERATION_ID_UNIQUE",
    ):
        assert LINT.rules[rule_id].purpose, rule_id
