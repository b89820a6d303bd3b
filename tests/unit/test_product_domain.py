"""Product's pure rules: search filters and the opaque keyset cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.product.domain import (
    CursorError,
    Position,
    SearchFilters,
    decode_cursor,
    encode_cursor,
)


def test_a_minimum_price_above_the_maximum_is_a_problem() -> None:
    assert SearchFilters(min_price_minor=500, max_price_minor=100).problem() is not None
    assert SearchFilters(min_price_minor=100, max_price_minor=100).problem() is None


def test_a_ranked_cursor_round_trips_the_rank_exactly() -> None:
    filters = SearchFilters(q="aceite picual", category="olive_oil")
    position = Position(uuid.uuid4(), rank=0.0607927106320858)
    cursor = encode_cursor(position, filters)
    assert len(cursor) <= 200
    assert decode_cursor(cursor, filters) == position


def test_a_newest_first_cursor_round_trips_the_listing_time() -> None:
    filters = SearchFilters(province="jaen", min_price_minor=0, max_price_minor=99_999)
    position = Position(uuid.uuid4(), listed_at=datetime(2026, 11, 21, 9, 30, 0, 123456, UTC))
    assert decode_cursor(encode_cursor(position, filters), filters) == position


def test_a_cursor_of_other_filters_is_refused() -> None:
    cursor = encode_cursor(Position(uuid.uuid4(), rank=0.1), SearchFilters(q="queso"))
    with pytest.raises(CursorError, match="other filters"):
        decode_cursor(cursor, SearchFilters(q="aceite"))


@pytest.mark.parametrize("garbage", ["%%%", "bm90IGpzb24", "e30", "WzFd"])
def test_a_foreign_cursor_is_refused(garbage: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(garbage, SearchFilters())
