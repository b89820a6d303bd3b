"""The product service's REST API: catalogue search and product detail."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from generated.product.models import Product, ProductPage
from runtime.http import ProblemError
from runtime.service import ServiceContext
from services.product.catalogue import Catalogue
from services.product.domain import CursorError, SearchFilters, decode_cursor, encode_cursor

__all__ = ["ProductApi"]

Category = Literal[
    "olive_oil", "ceramics", "textiles", "cheese", "wine", "gastronomy", "crafts", "experiences"
]
_PRICE_CEILING = 2**63 - 1
"""The largest price the catalogue stores (bigint); a bound above it bounds nothing more."""

Province = Literal["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]


class ProductApi:
    """Implements `generated.product.api.Api`."""

    def __init__(self, ctx: ServiceContext, catalogue: Catalogue) -> None:
        self._ctx = ctx
        self._catalogue = catalogue

    async def search_products(
        self,
        *,
        q: str | None = None,
        category: Category | None = None,
        min_price_minor: int | None = None,
        max_price_minor: int | None = None,
        province: Province | None = None,
        artisan_id: UUID | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ProductPage:
        """One keyset page of the visible products matching the filters."""
        filters = SearchFilters(
            q=q.strip() or None if q is not None else None,
            category=category,
            min_price_minor=_bounded(min_price_minor),
            max_price_minor=_bounded(max_price_minor),
            province=province,
            artisan_id=artisan_id,
        )
        if (problem := filters.problem()) is not None:
            raise ProblemError(422, "Unprocessable Content", problem)
        try:
            after = decode_cursor(cursor, filters) if cursor is not None else None
        except CursorError as exc:
            raise ProblemError(400, "Bad Request", f"cursor: {exc}") from exc
        async with self._ctx.transaction() as tx:
            rows = await self._catalogue.search(tx, filters, after, limit + 1)
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1][1], filters) if len(rows) > limit else None
        return ProductPage(items=[p for p, _ in page], next_cursor=next_cursor)

    async def get_product(self, product_id: UUID) -> Product:
        """One visible catalogue entry."""
        async with self._ctx.transaction() as tx:
            product = await self._catalogue.get(tx, product_id)
        if product is None:
            raise ProblemError(404, "Not Found", f"No product {product_id} in the catalogue.")
        return product


def _bounded(price_minor: int | None) -> int | None:
    """A price bound the database can compare: the contract sets no maximum."""
    return None if price_minor is None else min(price_minor, _PRICE_CEILING)
