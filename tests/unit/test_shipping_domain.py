"""Shipping's pure rules: tracking codes, transitions, and who may act on a shipment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from generated.shipping.models import Shipment
from runtime.http.auth import Principal
from services.shipping.access import may_act, may_see
from services.shipping.domain import Move, TransitionError, deliver, dispatch, tracking_code
from services.shipping.handlers import shipment_id_of
from services.shipping.shipments import LockedShipment

CUSTOMER, ARTISAN_USER, ARTISAN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _shipment() -> LockedShipment:
    shipment = Shipment(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        customer_id=CUSTOMER,
        status="created",
        tracking_code="A4CO-PCK-000001",
        delivery={"method": "pickup"},
        created_at=datetime.now(UTC),
    )
    return LockedShipment(shipment, (ARTISAN,), 1)


def test_standard_tracking_code_names_the_province_and_pickup_names_pck() -> None:
    assert tracking_code("standard", "jaen", 123) == "A4CO-JAE-000123"
    assert tracking_code("standard", "malaga", 7) == "A4CO-MAL-000007"
    assert tracking_code("pickup", None, 124) == "A4CO-PCK-000124"


def test_standard_shipment_is_dispatched_once_then_delivered_once() -> None:
    assert dispatch("created", "standard") is Move.APPLY
    assert dispatch("dispatched", "standard") is Move.UNCHANGED
    assert deliver("dispatched", "standard") is Move.APPLY
    assert deliver("delivered", "standard") is Move.UNCHANGED


def test_standard_shipment_cannot_be_delivered_before_dispatch() -> None:
    with pytest.raises(TransitionError, match="dispatched before"):
        deliver("created", "standard")


def test_pickup_is_never_dispatched_but_is_delivered_when_collected() -> None:
    with pytest.raises(TransitionError, match="pickup"):
        dispatch("created", "pickup")
    assert deliver("created", "pickup") is Move.APPLY


def test_delivered_shipment_cannot_be_dispatched_again() -> None:
    with pytest.raises(TransitionError, match="already delivered"):
        dispatch("delivered", "standard")


def test_artisan_of_an_item_acts_and_others_do_not() -> None:
    shipment = _shipment()
    artisan = Principal(ARTISAN_USER, frozenset({"artisan"}))
    assert may_act(artisan, shipment, {ARTISAN})
    assert not may_act(artisan, shipment, {uuid.uuid4()})
    assert may_act(Principal(uuid.uuid4(), frozenset({"admin"})), shipment, set())


def test_customer_sees_their_shipment_but_never_acts_on_it() -> None:
    shipment = _shipment()
    customer = Principal(CUSTOMER, frozenset({"customer"}))
    assert may_see(customer, shipment, set())
    assert not may_act(customer, shipment, set())
    assert not may_see(Principal(uuid.uuid4(), frozenset({"customer"})), shipment, set())


def test_an_order_has_one_shipment_id() -> None:
    order_id = uuid.uuid4()
    assert shipment_id_of(order_id) == shipment_id_of(order_id)
    assert shipment_id_of(order_id) != shipment_id_of(uuid.uuid4())
