"""Geo's pure rules: the capitals' great-circle distances and the nearby provinces."""

from __future__ import annotations

import pytest

from services.geo.domain import PROVINCES, distance_km, haversine_km, nearby


def test_distances_match_the_contract_examples() -> None:
    assert distance_km("jaen", "granada") == 69
    assert distance_km("jaen", "cordoba") == 88


def test_distance_is_symmetric_and_zero_for_the_same_province() -> None:
    for a in PROVINCES:
        assert distance_km(a, a) == 0
        for b in PROVINCES:
            assert distance_km(a, b) == distance_km(b, a)


def test_haversine_of_a_quarter_meridian_is_a_quarter_of_the_circumference() -> None:
    assert haversine_km(0, 0, 90_000_000, 0) == pytest.approx(6371.0 * 3.14159265 / 2, rel=1e-6)


def test_haversine_of_one_degree_of_longitude_on_the_equator_is_about_111_km() -> None:
    assert haversine_km(0, 0, 0, 1_000_000) == pytest.approx(111.19, abs=0.01)


def test_nearby_starts_at_the_centre_and_is_sorted_by_distance() -> None:
    assert nearby("jaen", 100) == [("jaen", 0), ("granada", 69), ("cordoba", 88)]


def test_nearby_with_radius_zero_is_only_the_centre() -> None:
    assert nearby("huelva", 0) == [("huelva", 0)]


def test_nearby_with_a_wide_radius_holds_every_province_once() -> None:
    found = nearby("sevilla", 1000)
    assert sorted(p for p, _ in found) == sorted(PROVINCES)
    assert [km for _, km in found] == sorted(km for _, km in found)
