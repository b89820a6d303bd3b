"""The recommendation rule: a pure function of a user's profile and the recent catalogue.

Each candidate (a listed product, in stock, that the user has not bought) scores up to
10000 basis points, the sum of:

- behaviour, up to 6000: the user's affinity for the product's category, relative to
  their strongest category. Affinity adds up the user's actions in a category: a view or
  a search 1, a cart addition 3, a purchase 5;
- segment, 2000: the category suits the user's segment (olive oil lovers: olive oil;
  ceramics collectors: ceramics; vip: wine and experiences);
- popularity, up to 1000: the product's actions by every user (same weights), relative to
  the most popular candidate;
- newness, up to 1000: newest product 1000, falling evenly to the oldest.

A user with no history thus gets the most popular, then the newest products. The answer
always holds the best product of each category the user interacted with (strongest
affinity first, as long as `limit` allows), then the best of the rest; best first. The
reason of an item is the largest of its four parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

__all__ = [
    "ACTION_WEIGHTS",
    "SEGMENT_CATEGORIES",
    "Candidate",
    "Profile",
    "Reason",
    "Recommendation",
    "recommend",
]

Reason = Literal["segment", "behavior", "new_product", "popular"]

ACTION_WEIGHTS: Mapping[str, int] = {
    "viewed_product": 1,
    "searched": 1,
    "added_to_cart": 3,
    "purchased": 5,
}
SEGMENT_CATEGORIES: Mapping[str, frozenset[str]] = {
    "olive_oil_lover": frozenset({"olive_oil"}),
    "ceramics_collector": frozenset({"ceramics"}),
    "vip": frozenset({"wine", "experiences"}),
}
BEHAVIOR_BP = 6000
SEGMENT_BP = 2000
POPULAR_BP = 1000
NEW_BP = 1000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A product of the recent catalogue."""

    product_id: UUID
    category: str
    listed_at: datetime
    popularity: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    """What the rule knows of a user: affinities by category, segment, products bought."""

    affinities: Mapping[str, int] = field(default_factory=dict)
    segment: str | None = None
    bought: frozenset[UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A scored candidate and the main reason for it."""

    product_id: UUID
    category: str
    score_bp: int
    reason: Reason


def recommend(
    profile: Profile, candidates: Sequence[Candidate], limit: int
) -> list[Recommendation]:
    """The user's `limit` best products (see the module docstring)."""
    open_ = [c for c in candidates if c.product_id not in profile.bought]
    newest = sorted(open_, key=lambda c: (c.listed_at, c.product_id), reverse=True)
    scale = _Scale(
        strongest=max(profile.affinities.values(), default=0),
        most_popular=max((c.popularity for c in newest), default=0),
        count=len(newest),
    )
    scored = [_score(profile, c, rank, scale) for rank, c in enumerate(newest)]
    ranked = sorted(scored, key=lambda r: -r.score_bp)  # stable: newer first on ties
    chosen: dict[UUID, Recommendation] = {}
    for category in _interacted(profile):
        best = next((r for r in ranked if r.category == category), None)
        if best is not None and len(chosen) < limit:
            chosen[best.product_id] = best
    for r in ranked:
        if len(chosen) >= limit:
            break
        chosen.setdefault(r.product_id, r)
    return [r for r in ranked if r.product_id in chosen]


def _interacted(profile: Profile) -> list[str]:
    """Categories the user acted on, strongest affinity first (then by name)."""
    acted = [(w, c) for c, w in profile.affinities.items() if w > 0]
    return [c for _, c in sorted(acted, key=lambda wc: (-wc[0], wc[1]))]


@dataclass(frozen=True, slots=True)
class _Scale:
    """What the parts of a score are relative to."""

    strongest: int
    most_popular: int
    count: int


def _score(profile: Profile, candidate: Candidate, rank: int, scale: _Scale) -> Recommendation:
    """The candidate's four parts (`rank` 0 is the newest), their sum and the largest."""
    affinity = profile.affinities.get(candidate.category, 0)
    suits = candidate.category in SEGMENT_CATEGORIES.get(profile.segment or "", frozenset())
    parts: dict[Reason, int] = {
        "behavior": BEHAVIOR_BP * affinity // scale.strongest if scale.strongest > 0 else 0,
        "segment": SEGMENT_BP if suits else 0,
        "popular": (
            POPULAR_BP * candidate.popularity // scale.most_popular if scale.most_popular > 0 else 0
        ),
        "new_product": NEW_BP * (scale.count - rank) // scale.count,
    }
    reason = max(parts, key=lambda k: parts[k])
    return Recommendation(candidate.product_id, candidate.category, sum(parts.values()), reason)
