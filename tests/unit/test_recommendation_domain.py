"""The recommendation rule: affinity, segment, popularity, newness; no bought products."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.recommendation.domain import Candidate, Profile, recommend

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def product(category: str, age_days: int = 0, popularity: int = 0) -> Candidate:
    """A candidate listed `age_days` before T0."""
    return Candidate(uuid.uuid4(), category, T0 - timedelta(days=age_days), popularity)


def test_a_user_without_history_gets_the_newest_products_first() -> None:
    old, newer, newest = product("wine", 3), product("cheese", 2), product("crafts", 1)

    picks = recommend(Profile(), [old, newest, newer], limit=2)

    assert [p.product_id for p in picks] == [newest.product_id, newer.product_id]
    assert {p.reason for p in picks} == {"new_product"}


def test_a_user_without_history_gets_popular_products_before_merely_new_ones() -> None:
    popular, new = product("wine", 10, popularity=40), product("cheese", 0)

    picks = recommend(Profile(), [new, popular], limit=2)

    assert [p.product_id for p in picks] == [popular.product_id, new.product_id]
    assert (picks[0].reason, picks[1].reason) == ("popular", "new_product")


def test_the_category_of_strongest_affinity_ranks_first() -> None:
    cheese, wine = product("cheese", 5), product("wine", 0)

    picks = recommend(Profile(affinities={"cheese": 4, "wine": 1}), [wine, cheese], limit=2)

    assert [p.product_id for p in picks] == [cheese.product_id, wine.product_id]
    assert picks[0].reason == "behavior"
    assert picks[0].score_bp > picks[1].score_bp


def test_bought_products_are_never_recommended() -> None:
    bought, other = product("olive_oil", 0), product("olive_oil", 1)
    profile = Profile(affinities={"olive_oil": 5}, bought=frozenset({bought.product_id}))

    picks = recommend(profile, [bought, other], limit=5)

    assert [p.product_id for p in picks] == [other.product_id]


def test_every_interacted_category_is_in_the_answer_despite_newer_products() -> None:
    textiles = product("textiles", 30)
    fresh = [product("wine", 0, popularity=100) for _ in range(5)]
    profile = Profile(affinities={"cheese": 50, "textiles": 1}, segment="vip")
    cheese = product("cheese", 20)

    picks = recommend(profile, [*fresh, textiles, cheese], limit=3)

    ids = [p.product_id for p in picks]
    assert textiles.product_id in ids
    assert ids[0] == cheese.product_id
    assert len(ids) == 3


def test_the_segment_boosts_its_categories() -> None:
    ceramics, wine = product("ceramics", 9), product("wine", 0)

    picks = recommend(Profile(segment="ceramics_collector"), [wine, ceramics], limit=2)

    assert [p.product_id for p in picks] == [ceramics.product_id, wine.product_id]
    assert picks[0].reason == "segment"


def test_scores_stay_within_ten_thousand_basis_points() -> None:
    only = product("olive_oil", 0, popularity=9)
    profile = Profile(affinities={"olive_oil": 3}, segment="olive_oil_lover")

    (pick,) = recommend(profile, [only], limit=1)

    assert pick.score_bp == 10_000


def test_no_candidates_means_no_recommendations() -> None:
    assert recommend(Profile(affinities={"wine": 2}), [], limit=10) == []
