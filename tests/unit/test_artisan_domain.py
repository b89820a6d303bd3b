"""Artisan's pure rules: the performance tier thresholds and the listing cursors."""

from __future__ import annotations

import pytest

from services.artisan.domain import (
    CursorError,
    TierRule,
    decode_cursor,
    encode_cursor,
    fingerprint,
    higher_tier,
)

RULE = TierRule()


@pytest.mark.parametrize(
    ("orders", "rating", "tier"),
    [
        (0, None, "basic"),
        (24, None, "basic"),
        (25, None, "premium"),
        (99, None, "premium"),
        (100, None, "master"),
        (100, 450, "master"),
        (100, 449, "premium"),
        (25, 399, "basic"),
        (25, 400, "premium"),
        (500, 300, "basic"),
    ],
)
def test_performance_tier_follows_the_order_and_rating_thresholds(
    orders: int, rating: int | None, tier: str
) -> None:
    assert RULE.performance_tier(orders, rating) == tier


def test_the_verified_level_is_a_floor() -> None:
    assert RULE.tier("master", 0, None) == "master"
    assert RULE.tier("premium", 3, None) == "premium"
    assert RULE.tier("basic", 30, None) == "premium"


def test_higher_tier_orders_basic_premium_master() -> None:
    assert higher_tier("basic", "master") == "master"
    assert higher_tier("premium", "basic") == "premium"


def test_a_cursor_round_trips_with_the_same_filters() -> None:
    filters = fingerprint("active", "jaen")
    position = {"t": "2026-11-18T16:00:00+00:00", "i": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}
    cursor = encode_cursor(position, filters)
    assert "=" not in cursor and len(cursor) <= 200
    assert decode_cursor(cursor, filters) == position


def test_a_cursor_is_refused_with_other_filters() -> None:
    cursor = encode_cursor({"i": "x"}, fingerprint("active", None))
    with pytest.raises(CursorError):
        decode_cursor(cursor, fingerprint("pending", None))


@pytest.mark.parametrize("garbage", ["not base64!", "bm90IGpzb24", "WzFd"])
def test_a_foreign_cursor_is_refused(garbage: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(garbage, fingerprint("active", None))
