"""Catalogue search rules: the filters of a search, its order, and its opaque cursors.

A search with words is ordered by relevance (PostgreSQL `ts_rank` of the words on the
name, weighted A, and the description, weighted B, with the 'spanish' configuration),
then by product id; without words, newest listing first, then by product id. Both orders
are total and depend only on fields that never change after listing, so keyset pages
neither repeat nor skip an entry. A cursor carries the last entry's sort key and a
fingerprint of the filters; reusing it with other filters is a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = ["CursorError", "Position", "SearchFilters", "decode_cursor", "encode_cursor"]


class CursorError(ValueError):
    """A cursor that this service did not issue, or issued for other filters."""


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What a search asks for (all optional)."""

    q: str | None = None
    category: str | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    province: str | None = None
    artisan_id: UUID | None = None

    def problem(self) -> str | None:
        """Why the filters can never match, or None when they are consistent."""
        low, high = self.min_price_minor, self.max_price_minor
        if low is not None and high is not None and low > high:
            return f"min_price_minor ({low}) is above max_price_minor ({high})."
        return None

    def fingerprint(self) -> str:
        """A short digest of the filters, stamped into the cursors of this search."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Position:
    """The sort key of the last entry of a page: relevance or listing time, then id."""

    product_id: UUID
    rank: float | None = None
    listed_at: datetime | None = None


def encode_cursor(position: Position, filters: SearchFilters) -> str:
    """An opaque, URL-safe cursor for the page after `position`."""
    key: dict[str, Any] = {"i": str(position.product_id), "f": filters.fingerprint()}
    if position.rank is not None:
        key["r"] = position.rank
    if position.listed_at is not None:
        key["t"] = position.listed_at.isoformat()
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: SearchFilters) -> Position:
    """The position a cursor encodes; `CursorError` when it is foreign or for other filters."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, dict):
            raise CursorError("the cursor is not one this service issued")
        if key.get("f") != filters.fingerprint():
            raise CursorError("the cursor belongs to a search with other filters")
        ranked = filters.q is not None
        position = Position(
            product_id=UUID(key["i"]),
            rank=float(key["r"]) if ranked else None,
            listed_at=None if ranked else datetime.fromisoformat(key["t"]),
        )
    except (binascii.Error, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CursorError):
            raise
        raise CursorError("the cursor is not one this service issued") from exc
    return position
