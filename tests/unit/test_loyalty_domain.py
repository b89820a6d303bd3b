"""Loyalty's pure rules: points per whole euro and tiers by balance."""

from __future__ import annotations

import pytest

from services.loyalty.domain import next_tier, points_for, tier_of


@pytest.mark.parametrize(
    ("total_minor", "points"), [(2999, 29), (100, 1), (99, 0), (0, 0), (50000, 500)]
)
def test_one_point_per_whole_euro_of_the_total_in_cents(total_minor: int, points: int) -> None:
    assert points_for(total_minor) == points


@pytest.mark.parametrize(
    ("balance", "tier"),
    [(0, "bronze"), (499, "bronze"), (500, "silver"), (1999, "silver"), (2000, "gold")],
)
def test_tier_follows_the_thresholds(balance: int, tier: str) -> None:
    assert tier_of(balance) == tier


def test_next_tier_says_how_many_points_are_missing() -> None:
    assert next_tier(0) == ("silver", 500)
    assert next_tier(514) == ("gold", 1486)
    assert next_tier(2350) is None
