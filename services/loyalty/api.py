"""The loyalty service's REST API: a customer's balance and tier."""

from __future__ import annotations

from uuid import UUID

from generated.loyalty.models import LoyaltyAccount
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.service import ServiceContext
from services.loyalty.accounts import Accounts
from services.loyalty.domain import next_tier

__all__ = ["LoyaltyApi"]


class LoyaltyApi:
    """Implements `generated.loyalty.api.Api`."""

    def __init__(self, ctx: ServiceContext, accounts: Accounts) -> None:
        self._ctx = ctx
        self._accounts = accounts

    async def get_loyalty_account(self, principal: Principal, user_id: UUID) -> LoyaltyAccount:
        """The account, with the next tier and the points still needed; owner or admin."""
        principal.require_owner(user_id, "this loyalty account")
        async with self._ctx.transaction() as tx:
            account = await self._accounts.get(tx, user_id)
        if account is None:
            raise ProblemError(404, "Not Found", f"No loyalty account for user {user_id}.")
        upcoming = next_tier(account.balance)
        return LoyaltyAccount(
            user_id=user_id,
            balance=account.balance,
            tier=account.tier,
            next_tier=upcoming[0] if upcoming else None,
            points_to_next_tier=upcoming[1] if upcoming else None,
            updated_at=account.updated_at,
        )
