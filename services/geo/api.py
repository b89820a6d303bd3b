"""The geo service's REST API: static answers computed from `services.geo.domain`."""

from __future__ import annotations

from generated.geo.models import (
    GeoDistance,
    GeoNearbyProvince,
    GeoNearbyProvinceList,
    GeoProvince,
    GeoProvinceList,
    GeoShippingZone,
    GeoShippingZoneList,
    Money,
)
from services.geo.domain import (
    PICKUP_PROVINCE,
    PROVINCES,
    STANDARD_FEE_MINOR,
    Province,
    distance_km,
    nearby,
)

__all__ = ["GeoApi"]


class GeoApi:
    """Implements `generated.geo.api.Api`; every answer is computed from static data."""

    def __init__(self) -> None:
        self._provinces = GeoProvinceList(
            items=[
                GeoProvince(
                    province=p.code,
                    name=p.name,
                    capital=p.capital,
                    lat_microdegrees=p.lat_microdegrees,
                    lon_microdegrees=p.lon_microdegrees,
                )
                for p in PROVINCES.values()
            ]
        )
        fee = Money(amount_minor=STANDARD_FEE_MINOR, currency="EUR")
        self._zones = GeoShippingZoneList(
            items=[
                GeoShippingZone(
                    province=p.code,
                    name=p.name,
                    delivery_methods=["standard", "pickup"]
                    if p.code == PICKUP_PROVINCE
                    else ["standard"],
                    standard_fee=fee,
                    min_days=p.min_days,
                    max_days=p.max_days,
                )
                for p in PROVINCES.values()
            ]
        )

    async def list_provinces(self) -> GeoProvinceList:
        """The eight provinces with their capitals' coordinates."""
        return self._provinces

    async def list_shipping_zones(self) -> GeoShippingZoneList:
        """One zone per province; pickup only in Jaén."""
        return self._zones

    async def get_distance(self, *, from_province: Province, to_province: Province) -> GeoDistance:
        """Great-circle distance between the two capitals, in whole kilometres."""
        return GeoDistance(
            from_province=from_province,
            to_province=to_province,
            distance_km=distance_km(from_province, to_province),
        )

    async def find_nearby_provinces(
        self, *, province: Province, radius_km: int = 100
    ) -> GeoNearbyProvinceList:
        """The centre and the provinces within the radius, nearest first."""
        return GeoNearbyProvinceList(
            province=province,
            radius_km=radius_km,
            items=[
                GeoNearbyProvince(province=code, distance_km=km)
                for code, km in nearby(province, radius_km)
            ],
        )
