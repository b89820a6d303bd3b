"""Pure domain rules of payment, inventory and order."""

from __future__ import annotations

import uuid

import pytest

from services.inventory.domain import Stock, reserve_all
from services.order.domain import CatalogueEntry, PricingError, per_artisan, price
from services.payment.domain import GatewayOutcome, SimulatedGateway, fee_of, split

A, B = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(("tier", "fee"), [("basic", 1200), ("premium", 1000), ("master", 800)])
def test_fee_depends_on_the_artisans_tier(tier: str, fee: int) -> None:
    (line,) = split([(A, 10_000)], {A: tier})  # type: ignore[dict-item]
    assert (line.fee_rate_bp, line.fee_minor, line.net_minor) == (fee, fee, 10_000 - fee)


def test_unknown_tier_pays_basic_and_fees_round_half_up() -> None:
    (line,) = split([(A, 1_250)], {})
    assert (line.tier, line.fee_minor) == ("basic", 150)
    assert fee_of(1, 1200) == 0 and fee_of(5, 1000) == 1 and fee_of(4, 1000) == 0


@pytest.mark.parametrize(
    ("token", "outcome"),
    [
        ("tok_visa_ok", GatewayOutcome.SUCCEEDED),
        ("tok_ok_42", GatewayOutcome.SUCCEEDED),
        ("tok_declined", GatewayOutcome.CARD_DECLINED),
        ("tok_insufficient", GatewayOutcome.INSUFFICIENT_FUNDS),
        ("tok_timeout", GatewayOutcome.NO_ANSWER),
        ("garbage", GatewayOutcome.INVALID_CARD),
    ],
)
async def test_simulated_gateway_is_deterministic(token: str, outcome: GatewayOutcome) -> None:
    assert await SimulatedGateway().charge(token, 100) is outcome
    assert await SimulatedGateway().charge(token, 100) is outcome


def test_reservation_is_all_or_nothing() -> None:
    stocks: dict[uuid.UUID, Stock | None] = {
        A: Stock(A, uuid.uuid4(), on_hand=5, threshold=2),
        B: Stock(B, uuid.uuid4(), on_hand=1, threshold=0),
    }
    changed, shortages = reserve_all(stocks, [(A, 2), (B, 2)])
    assert changed == {}
    assert [(s.product_id, s.requested, s.available) for s in shortages] == [(B, 2, 1)]
    changed, shortages = reserve_all(stocks, [(A, 2), (A, 1), (B, 1)])
    assert shortages == [] and changed[A].available == 2 and changed[B].available == 0
    _, unknown = reserve_all({A: None}, [(A, 1)])
    assert [(s.requested, s.available) for s in unknown] == [(1, 0)]


def test_threshold_crossing_commit_and_release() -> None:
    before = Stock(A, uuid.uuid4(), on_hand=5, threshold=3)
    after = before.reserve(3)
    assert after.crossed_threshold(before) and not after.crossed_threshold(after)
    sold = after.commit(3)
    assert (sold.on_hand, sold.reserved, sold.available) == (2, 0, 2)
    assert after.release(3) == before


def test_reaching_the_threshold_exactly_counts_as_reaching_it() -> None:
    before = Stock(A, uuid.uuid4(), on_hand=5, threshold=3)
    assert before.reserve(2).crossed_threshold(before)  # 5 -> 3: fell to the threshold
    assert not before.reserve(1).crossed_threshold(before)  # 5 -> 4: still above
    at = before.reserve(2)
    assert not at.reserve(1).crossed_threshold(at)  # 3 -> 2: was not above it any more


def test_pricing_uses_the_catalogue_and_delivery_fee() -> None:
    artisan = uuid.uuid4()
    catalogue = {A: CatalogueEntry(A, artisan, 1_250), B: CatalogueEntry(B, artisan, 300)}
    lines, subtotal, fee = price([(A, 2), (B, 1)], catalogue, "standard")
    assert (subtotal, fee) == (2_800, 499)
    assert per_artisan(lines) == {artisan: 2_800}
    assert price([(A, 1)], catalogue, "pickup")[2] == 0
    with pytest.raises(PricingError):
        price([(uuid.uuid4(), 1)], catalogue, "pickup")
