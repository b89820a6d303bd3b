"""The loyalty service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.loyalty.api import build_router
from generated.loyalty.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.loyalty.accounts import Accounts
from services.loyalty.api import LoyaltyApi
from services.loyalty.handlers import LoyaltyHandlers

__all__ = ["NAME", "definition"]

NAME = "loyalty"


def definition() -> ServiceDefinition:
    """Loyalty: accounts opened on registration, points on delivery, the read API."""
    accounts = Accounts(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(LoyaltyApi(ctx, accounts))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: LoyaltyHandlers(ctx, accounts),
        routers=routers,
        migrate=accounts.migrate,
    )
