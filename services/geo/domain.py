"""Reference geography: the eight provinces, their capitals, zones, and great-circle distances.

Coordinates are integers in microdegrees (as on the wire); distances are the haversine
great-circle distance between two capitals on a sphere of radius 6371 km, rounded to the
whole kilometre (Jaén to Granada 69 km, Jaén to Córdoba 88 km).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EARTH_RADIUS_KM",
    "PICKUP_PROVINCE",
    "PROVINCES",
    "STANDARD_FEE_MINOR",
    "Province",
    "ProvinceInfo",
    "distance_km",
    "haversine_km",
    "nearby",
]

Province = Literal["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]

EARTH_RADIUS_KM = 6371.0
STANDARD_FEE_MINOR = 499
"""Standard delivery costs 4.99 EUR in every zone."""
PICKUP_PROVINCE: Province = "jaen"
"""Free pickup is offered in Jaén only."""


@dataclass(frozen=True, slots=True)
class ProvinceInfo:
    """A province, its capital, the capital's coordinates and standard delivery days."""

    code: Province
    name: str
    capital: str
    lat_microdegrees: int
    lon_microdegrees: int
    min_days: int
    max_days: int


PROVINCES: dict[Province, ProvinceInfo] = {
    p.code: p
    for p in (
        ProvinceInfo("almeria", "Almería", "Almería", 36834000, -2463700, 2, 4),
        ProvinceInfo("cadiz", "Cádiz", "Cádiz", 36527100, -6288600, 2, 4),
        ProvinceInfo("cordoba", "Córdoba", "Córdoba", 37888200, -4779400, 1, 3),
        ProvinceInfo("granada", "Granada", "Granada", 37177300, -3598600, 1, 3),
        ProvinceInfo("huelva", "Huelva", "Huelva", 37261400, -6944700, 2, 4),
        ProvinceInfo("jaen", "Jaén", "Jaén", 37779600, -3784900, 1, 2),
        ProvinceInfo("malaga", "Málaga", "Málaga", 36721300, -4421400, 2, 3),
        ProvinceInfo("sevilla", "Sevilla", "Sevilla", 37389100, -5984500, 2, 3),
    )
}
"""The provinces in alphabetical order of their code."""


def haversine_km(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
    """Great-circle distance in km between two points given in microdegrees."""
    phi1, phi2 = math.radians(lat1 / 1e6), math.radians(lat2 / 1e6)
    d_phi = phi2 - phi1
    d_lambda = math.radians((lon2 - lon1) / 1e6)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_km(a: Province, b: Province) -> int:
    """Whole kilometres between the capitals of two provinces (0 for the same one)."""
    if a == b:
        return 0
    pa, pb = PROVINCES[a], PROVINCES[b]
    return round(
        haversine_km(
            pa.lat_microdegrees, pa.lon_microdegrees, pb.lat_microdegrees, pb.lon_microdegrees
        )
    )


def nearby(centre: Province, radius_km: int) -> list[tuple[Province, int]]:
    """The centre (0 km) and every province within `radius_km`, nearest first, then by code."""
    found = [(code, distance_km(centre, code)) for code in PROVINCES]
    return sorted(((code, km) for code, km in found if km <= radius_km), key=lambda p: (p[1], p[0]))
