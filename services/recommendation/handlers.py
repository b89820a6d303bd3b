"""The recommendation service's message handlers: each one idempotent, in one transaction."""

from __future__ import annotations

from generated.recommendation.models import (
    NewProductListed,
    ProductCatalogUpdated,
    UserBehaviorTracked,
    UserSegmentChanged,
)
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.recommendation.domain import ACTION_WEIGHTS
from services.recommendation.tables import RecommendationTables

__all__ = ["RecommendationHandlers"]

_LISTING = {"listed": False, "delisted": True}
"""What a catalogue change says of the listing state; other changes leave it alone."""


class RecommendationHandlers:
    """Implements `generated.recommendation.events.Handlers`."""

    def __init__(self, ctx: ServiceContext, tables: RecommendationTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def on_user_segment_changed(
        self, message: UserSegmentChanged, context: MessageContext
    ) -> None:
        """Keep the user's latest segment; the next answer is ranked with it."""
        async with self._ctx.handling(context, "on_user_segment_changed") as tx:
            if tx is not None:
                await self._tables.segmented(
                    tx, message.user_id, message.to_segment, message.changed_at
                )

    async def on_user_behavior_tracked(
        self, message: UserBehaviorTracked, context: MessageContext
    ) -> None:
        """Add the action's weight to the user's category affinity and the product's score."""
        async with self._ctx.handling(context, "on_user_behavior_tracked") as tx:
            if tx is not None:
                await self._tables.acted(
                    tx,
                    message.user_id,
                    weight=ACTION_WEIGHTS[message.action],
                    category=message.category,
                    product_id=message.product_id,
                    bought=message.action == "purchased",
                )

    async def on_new_product_listed(
        self, message: NewProductListed, context: MessageContext
    ) -> None:
        """Add the product to the recent catalogue of its category."""
        async with self._ctx.handling(context, "on_new_product_listed") as tx:
            if tx is not None:
                await self._tables.listed(
                    tx, message.product_id, message.artisan_id, message.category, message.listed_at
                )

    async def on_product_catalog_updated(
        self, message: ProductCatalogUpdated, context: MessageContext
    ) -> None:
        """Keep whether the product is listed and in stock, so sold-out ones drop out."""
        async with self._ctx.handling(context, "on_product_catalog_updated") as tx:
            if tx is not None:
                await self._tables.listing_changed(
                    tx,
                    message.product_id,
                    available=message.available,
                    delisted=_LISTING.get(message.change),
                    at=message.updated_at,
                )
