"""The recommendation service's REST API: a user's recommendations, for them or an admin."""

from __future__ import annotations

from uuid import UUID

from generated.recommendation.models import RecommendationItem, RecommendationList
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.recommendation.domain import recommend
from services.recommendation.tables import RecommendationTables

__all__ = ["RecommendationApi"]


class RecommendationApi:
    """Implements `generated.recommendation.api.Api`."""

    def __init__(self, ctx: ServiceContext, tables: RecommendationTables) -> None:
        self._ctx = ctx
        self._tables = tables

    async def get_recommendations(
        self, principal: Principal, user_id: UUID, *, limit: int = 10
    ) -> RecommendationList:
        """Score the recent catalogue for the user (see `services.recommendation.domain`)."""
        principal.require_owner(user_id, "these recommendations")
        async with self._ctx.transaction() as tx:
            profile = await self._tables.profile(tx, user_id)
            candidates = await self._tables.candidates(tx)
        return RecommendationList(
            user_id=user_id,
            items=[
                RecommendationItem(product_id=r.product_id, score_bp=r.score_bp, reason=r.reason)
                for r in recommend(profile, candidates, limit)
            ],
            generated_at=self._ctx.clock(),
        )
