"""Artisan rules: the performance tier rule and the opaque cursors of artisan listings.

**Tier rule.** An artisan is evaluated over a rolling window (90 days by default) ending at
the evaluation. Their *performance tier* is

- ``master``: at least 100 orders delivered in the window and, when they have ratings, an
  average of at least 4.50 stars (``average_rating >= 450``);
- ``premium``: at least 25 orders delivered and, when rated, at least 4.00 stars (400);
- ``basic``: otherwise.

No contract carries customers' ratings yet, so an artisan without ratings is judged on
delivered orders alone (and the event reports ``average_rating`` 0). The level an admin
verified the artisan at is a floor: the tier is the higher of that level and the
performance tier, so a master verified by hand is never demoted for a quiet season, and a
promoted artisan falls back towards their verified level as old deliveries leave the
window. An order counts once per artisan, however many of their lines it has.

The tier sets the marketplace fee of the artisan's sales (payment: basic 12 %, premium
10 %, master 8 %).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

__all__ = [
    "TIERS",
    "CursorError",
    "Tier",
    "TierRule",
    "decode_cursor",
    "encode_cursor",
    "fingerprint",
    "higher_tier",
]

Tier = Literal["basic", "premium", "master"]
TIERS: tuple[Tier, ...] = ("basic", "premium", "master")
"""The tiers from lowest to highest."""


@dataclass(frozen=True, slots=True)
class TierRule:
    """Thresholds of the performance tier (see the module docstring)."""

    premium_orders: int = 25
    master_orders: int = 100
    premium_rating: int = 400
    master_rating: int = 450
    window: timedelta = timedelta(days=90)

    def performance_tier(self, orders: int, average_rating: int | None) -> Tier:
        """The tier earned by `orders` delivered and an average rating (None: no ratings)."""
        if orders >= self.master_orders and _rated(average_rating, self.master_rating):
            return "master"
        if orders >= self.premium_orders and _rated(average_rating, self.premium_rating):
            return "premium"
        return "basic"

    def tier(self, verified: Tier, orders: int, average_rating: int | None) -> Tier:
        """The artisan's tier: the performance tier, never below the verified level."""
        return higher_tier(verified, self.performance_tier(orders, average_rating))


def _rated(average_rating: int | None, minimum: int) -> bool:
    return average_rating is None or average_rating >= minimum


def higher_tier(a: Tier, b: Tier) -> Tier:
    """The higher of two tiers."""
    return a if TIERS.index(a) >= TIERS.index(b) else b


class CursorError(ValueError):
    """A cursor that this service did not issue, or issued for other filters."""


def fingerprint(*filters: object) -> str:
    """A short digest of a query's filters, so a cursor is only reused with the same ones."""
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:8]


def encode_cursor(position: dict[str, Any], filters: str) -> str:
    """An opaque cursor: the last row's sort key and the filters' fingerprint."""
    raw = json.dumps({**position, "f": filters}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: str) -> dict[str, Any]:
    """The position a cursor encodes; `CursorError` when it is foreign or for other filters."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise CursorError("the cursor is not one this service issued") from exc
    if not isinstance(position, dict) or position.pop("f", None) != filters:
        raise CursorError("the cursor belongs to a query with other filters")
    return position
