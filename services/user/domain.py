"""The customer segment rule: a pure function of what the user service knows of a user.

In order of precedence (the first that holds wins):

1. ``vip``: the gold loyalty tier, or 10+ delivered orders;
2. ``regular``: 3+ delivered orders;
3. ``olive_oil_lover`` / ``ceramics_collector``: 3+ product actions (views, cart additions,
   purchases) in that category; the category with more actions wins, olive oil on a tie;
4. ``occasional``: at least one delivered order;
5. ``new``: none of the above.

Only customers are segmented: artisans and admins stay ``new``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "INTEREST_ACTIONS",
    "PRODUCT_ACTIONS",
    "REGULAR_ORDERS",
    "VIP_ORDERS",
    "Segment",
    "Standing",
    "segment_of",
]

Segment = Literal["new", "occasional", "regular", "vip", "olive_oil_lover", "ceramics_collector"]

VIP_ORDERS = 10
REGULAR_ORDERS = 3
INTEREST_ACTIONS = 3
PRODUCT_ACTIONS = frozenset({"viewed_product", "added_to_cart", "purchased"})
_INTERESTS: tuple[tuple[str, Segment], ...] = (
    ("olive_oil", "olive_oil_lover"),
    ("ceramics", "ceramics_collector"),
)


@dataclass(frozen=True, slots=True)
class Standing:
    """What the segment depends on: role, delivered orders, loyalty tier, interests."""

    role: str
    delivered_orders: int = 0
    loyalty_tier: str | None = None
    interests: Mapping[str, int] = field(default_factory=dict)


def segment_of(standing: Standing) -> tuple[Segment, str]:
    """The user's segment and one sentence saying why (see the module docstring)."""
    orders = standing.delivered_orders
    if standing.role != "customer":
        return "new", f"Only customers are segmented; this user is a {standing.role}."
    if standing.loyalty_tier == "gold":
        return "vip", "Reached the gold loyalty tier."
    if orders >= VIP_ORDERS:
        return "vip", f"{orders} delivered orders."
    if orders >= REGULAR_ORDERS:
        return "regular", f"{orders} delivered orders."
    interest = _interest(standing.interests)
    if interest is not None:
        return interest
    if orders > 0:
        return "occasional", f"{orders} delivered order{'s' if orders > 1 else ''}."
    return "new", "No delivered orders yet."


def _interest(interests: Mapping[str, int]) -> tuple[Segment, str] | None:
    """The strongest interest segment reached, if any (ties go to the first listed)."""
    best: tuple[int, str, Segment] | None = None
    for category, segment in _INTERESTS:
        actions = interests.get(category, 0)
        if actions >= INTEREST_ACTIONS and (best is None or actions > best[0]):
            best = (actions, category, segment)
    if best is None:
        return None
    actions, category, segment = best
    return segment, f"{actions} actions on {category.replace('_', ' ')} products."
