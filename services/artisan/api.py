"""The artisan service's REST API: apply, verify, list artisans and products, find nearby."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from uuid import UUID

from generated.artisan.events import Publisher
from generated.artisan.models import (
    Artisan,
    ArtisanApplication,
    ArtisanPage,
    ArtisanVerified,
    NearbyArtisan,
    NearbyArtisanList,
    NewProductListed,
    ProductListingRequest,
    VerifyArtisanRequest,
)
from generated.geo.client import GeoClient
from runtime.eventstore.base import Transaction
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.http.client import DependencyUnavailableError
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.artisan.artisans import ArtisanTables, LockedArtisan
from services.artisan.domain import CursorError, decode_cursor, encode_cursor, fingerprint
from services.artisan.handlers import stream_of

__all__ = ["ArtisanApi"]

Province = Literal["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]


class ArtisanApi:
    """Implements `generated.artisan.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: ArtisanTables, geo: GeoClient) -> None:
        self._ctx = ctx
        self._tables = tables
        self._geo = geo

    async def apply_artisan(self, principal: Principal, body: ArtisanApplication) -> Artisan:
        """Record a pending artisan for the caller (an admin may apply for anyone).

        The artisan's id is their user id, so every service checks an artisan's ownership
        against the token's subject without a lookup.
        """
        principal.require_owner(body.user_id, "this user's application")
        if len(set(body.categories)) != len(body.categories):
            raise ProblemError(422, "Unprocessable Content", "categories: each category once.")
        async with self._ctx.transaction() as tx:
            artisan = await self._tables.insert(tx, body.user_id, body, self._ctx.clock())
        if artisan is None:
            raise ProblemError(409, "Conflict", f"User {body.user_id} already has an artisan.")
        return artisan

    async def list_artisans(
        self,
        principal: Principal,
        *,
        status: Literal["pending", "active", "suspended"] | None = None,
        province: Province | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ArtisanPage:
        """Oldest application first; statuses other than active are for admins only."""
        status = status or "active"
        if status != "active" and not principal.is_admin:
            raise ProblemError(403, "Forbidden", f"Only admins may list {status} artisans.")
        filters = fingerprint(status, province)
        after: tuple[datetime, UUID] | None = None
        if cursor is not None:
            try:
                position = decode_cursor(cursor, filters)
                after = (datetime.fromisoformat(position["t"]), UUID(position["i"]))
            except (CursorError, KeyError, TypeError, ValueError) as exc:
                raise ProblemError(400, "Bad Request", f"cursor: {exc}") from exc
        async with self._ctx.transaction() as tx:
            rows = await self._tables.page(
                tx, status=status, province=province, after=after, limit=limit + 1
            )
        items, more = rows[:limit], len(rows) > limit
        last = items[-1] if items else None
        next_cursor = (
            encode_cursor({"t": last.applied_at.isoformat(), "i": str(last.artisan_id)}, filters)
            if more and last is not None
            else None
        )
        return ArtisanPage(items=items, next_cursor=next_cursor)

    async def find_nearby_artisans(
        self, *, province: Province, radius_km: int = 100, limit: int = 20
    ) -> NearbyArtisanList:
        """Geo's provinces within the radius, then their active artisans, nearest first.

        When geo is unavailable (its breaker open, or it fails), the answer is degraded to
        the province itself and says so with `same_province_only`.
        """
        degraded = False
        try:
            nearby = await self._geo.find_nearby_provinces(province=province, radius_km=radius_km)
            distances = [(p.province, p.distance_km) for p in nearby.items]
        except DependencyUnavailableError:
            distances, degraded = [(province, 0)], True
        async with self._ctx.transaction() as tx:
            found = await self._tables.active_in(tx, distances, limit)
        return NearbyArtisanList(
            items=[NearbyArtisan(artisan=a, distance_km=km) for a, km in found],
            same_province_only=True if degraded else None,
        )

    async def get_artisan(self, artisan_id: UUID) -> Artisan:
        """One artisan."""
        async with self._ctx.transaction() as tx:
            artisan = await self._tables.get(tx, artisan_id)
        if artisan is None:
            raise _not_found(artisan_id)
        return artisan

    async def verify_artisan(
        self, principal: Principal, artisan_id: UUID, body: VerifyArtisanRequest
    ) -> Artisan:
        """Make a pending artisan active at a level and announce ArtisanVerified."""
        async with self._ctx.transaction() as tx:
            locked = await self._locked(tx, artisan_id)
            if locked.artisan.status != "pending":
                raise ProblemError(
                    409, "Conflict", f"Artisan {artisan_id} is {locked.artisan.status}."
                )
            now = self._ctx.clock()
            artisan = await self._tables.verify(tx, artisan_id, body.verification_level, now)
            publisher = Publisher(await StreamSink.at_end(tx, stream_of(artisan_id)))
            await publisher.artisan_verified(
                ArtisanVerified(
                    artisan_id=artisan_id,
                    user_id=artisan.user_id,
                    verification_level=body.verification_level,
                    province=artisan.province,
                    verified_at=now,
                ),
                aggregate_id=str(artisan_id),
            )
        return artisan

    async def list_product(
        self, principal: Principal, artisan_id: UUID, body: ProductListingRequest
    ) -> NewProductListed:
        """An active artisan's own new product: assign its id and announce NewProductListed."""
        async with self._ctx.transaction() as tx:
            locked = await self._locked(tx, artisan_id)
            principal.require_owner(locked.artisan.user_id, "this artisan's listings")
            if locked.artisan.status != "active":
                raise ProblemError(
                    409,
                    "Conflict",
                    f"Artisan {artisan_id} is {locked.artisan.status}; only active artisans list.",
                )
            product_id = uuid.uuid4()
            listed = NewProductListed(
                product_id=product_id,
                artisan_id=artisan_id,
                **body.model_dump(),
                province=locked.artisan.province,
                listed_at=self._ctx.clock(),
            )
            publisher = Publisher(await StreamSink.at_end(tx, stream_of(artisan_id)))
            await publisher.new_product_listed(listed, aggregate_id=str(product_id))
        return listed

    async def _locked(self, tx: Transaction, artisan_id: UUID) -> LockedArtisan:
        locked = await self._tables.lock(tx, artisan_id)
        if locked is None:
            raise _not_found(artisan_id)
        return locked


def _not_found(artisan_id: UUID) -> ProblemError:
    return ProblemError(404, "Not Found", f"No artisan {artisan_id}.")
