"""The geo service in-process on the session's real NATS and PostgreSQL, called over HTTP.

Geo is public: no test sends a token, and the host needs no verifier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from generated.geo.client import GeoClient
from generated.platform import STREAMS
from runtime.service import ServiceHost, Settings
from services.geo.service import NAME, definition

BASE = "http://geo.test"


@pytest.fixture(scope="module")
async def http(nats_url: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The geo service, started once for the module, and an HTTP client of its app."""
    host = ServiceHost(
        definition(), Settings(service=NAME, nats_url=nats_url, database_url=database_url), STREAMS
    )
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    try:
        yield http
    finally:
        await http.aclose()
        await host.stop()


@pytest.fixture
def geo(http: httpx.AsyncClient) -> GeoClient:
    """The typed client other services use."""
    return GeoClient(BASE, http=http)


async def test_the_eight_provinces_are_listed_in_code_order_with_their_capitals(
    geo: GeoClient,
) -> None:
    provinces = (await geo.list_provinces()).items

    assert [p.province for p in provinces] == [
        "almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"
    ]  # fmt: skip
    jaen = provinces[5]
    assert (jaen.name, jaen.capital) == ("Jaén", "Jaén")
    assert (jaen.lat_microdegrees, jaen.lon_microdegrees) == (37779600, -3784900)


async def test_pickup_is_offered_only_in_jaen_and_standard_costs_4_99_everywhere(
    geo: GeoClient,
) -> None:
    zones = (await geo.list_shipping_zones()).items

    assert len(zones) == 8
    assert [z.province for z in zones if "pickup" in z.delivery_methods] == ["jaen"]
    assert all("standard" in z.delivery_methods for z in zones)
    assert {(z.standard_fee.amount_minor, z.standard_fee.currency) for z in zones} == {(499, "EUR")}
    assert all(z.min_days <= z.max_days for z in zones)


async def test_distance_between_capitals_is_in_whole_km_and_symmetric(geo: GeoClient) -> None:
    there = await geo.get_distance(from_province="jaen", to_province="granada")
    back = await geo.get_distance(from_province="granada", to_province="jaen")
    same = await geo.get_distance(from_province="sevilla", to_province="sevilla")

    assert there.distance_km == back.distance_km == 69
    assert same.distance_km == 0


async def test_nearby_provinces_are_the_centre_then_nearest_first(geo: GeoClient) -> None:
    around = await geo.find_nearby_provinces(province="jaen", radius_km=100)
    wide = await geo.find_nearby_provinces(province="jaen", radius_km=1000)

    assert (around.province, around.radius_km) == ("jaen", 100)
    assert [(p.province, p.distance_km) for p in around.items] == [
        ("jaen", 0),
        ("granada", 69),
        ("cordoba", 88),
    ]
    assert len(wide.items) == 8
    assert [p.distance_km for p in wide.items] == sorted(p.distance_km for p in wide.items)


async def test_an_unknown_province_is_a_422_problem_without_any_token(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(
        "/distance", params={"from_province": "madrid", "to_province": "jaen"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
