"""The product service's message handlers: the projection of the catalogue read model."""

from __future__ import annotations

from generated.product.models import (
    ArtisanPerformanceEvaluated,
    ArtisanVerified,
    NewProductListed,
    StockAdjusted,
)
from runtime.bus.base import MessageContext
from runtime.service import ServiceContext
from services.product.catalogue import Catalogue

__all__ = ["ProductHandlers"]


class ProductHandlers:
    """Implements `generated.product.events.Handlers`; each handler is idempotent."""

    def __init__(self, ctx: ServiceContext, catalogue: Catalogue) -> None:
        self._ctx = ctx
        self._catalogue = catalogue

    async def on_new_product_listed(
        self, message: NewProductListed, context: MessageContext
    ) -> None:
        """Add the product to the catalogue (visible once its artisan is verified)."""
        async with self._ctx.handling(context, "on_new_product_listed") as tx:
            if tx is not None:
                await self._catalogue.add(tx, message, self._ctx.clock(), context)

    async def on_artisan_verified(self, message: ArtisanVerified, context: MessageContext) -> None:
        """Record the artisan's level on their products and let them be sold."""
        async with self._ctx.handling(context, "on_artisan_verified") as tx:
            if tx is not None:
                await self._catalogue.set_level(
                    tx,
                    message.artisan_id,
                    message.verification_level,
                    message.verified_at,
                    self._ctx.clock(),
                    context,
                )

    async def on_artisan_performance_evaluated(
        self, message: ArtisanPerformanceEvaluated, context: MessageContext
    ) -> None:
        """Show the artisan's new tier on their products."""
        async with self._ctx.handling(context, "on_artisan_performance_evaluated") as tx:
            if tx is not None:
                await self._catalogue.set_level(
                    tx,
                    message.artisan_id,
                    message.tier,
                    message.evaluated_at,
                    self._ctx.clock(),
                    context,
                )

    async def on_stock_adjusted(self, message: StockAdjusted, context: MessageContext) -> None:
        """Update the units available of the product."""
        async with self._ctx.handling(context, "on_stock_adjusted") as tx:
            if tx is not None:
                await self._catalogue.adjust_stock(
                    tx,
                    message.product_id,
                    message.artisan_id,
                    message.available,
                    message.adjusted_at,
                    context,
                )
