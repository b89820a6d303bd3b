"""Loyalty rules: 1 point per whole euro of a delivered order, and tiers by balance.

Amounts are integer minor units (cents), so 29.99 EUR (2999) earns 29 points. Tiers:
bronze from 0 points, silver from 500, gold from 2000.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["TIERS", "Tier", "next_tier", "points_for", "tier_of"]

Tier = Literal["bronze", "silver", "gold"]

TIERS: tuple[tuple[Tier, int], ...] = (("bronze", 0), ("silver", 500), ("gold", 2000))
"""Each tier and the balance it starts at, lowest first."""

CENTS_PER_EURO = 100


def points_for(total_minor: int) -> int:
    """Points earned by an order of `total_minor` cents: its whole euros, never negative."""
    return max(total_minor, 0) // CENTS_PER_EURO


def tier_of(balance: int) -> Tier:
    """The highest tier whose threshold the balance reaches."""
    reached: Tier = "bronze"
    for tier, threshold in TIERS:
        if balance >= threshold:
            reached = tier
    return reached


def next_tier(balance: int) -> tuple[Tier, int] | None:
    """The next tier up and the points still needed for it; None at the top tier."""
    for tier, threshold in TIERS:
        if balance < threshold:
            return tier, threshold - balance
    return None
