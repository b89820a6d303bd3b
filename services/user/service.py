"""The user service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.user.api import build_router
from generated.user.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.user.api import UserApi
from services.user.handlers import UserHandlers
from services.user.users import Users
from services.user.views import UserViews

__all__ = ["NAME", "definition"]

NAME = "user"


def definition() -> ServiceDefinition:
    """The user service: profile read model, REST API and the order and loyalty handlers."""
    users = Users(UserViews(NAME))

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(UserApi(ctx, users))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: UserHandlers(ctx, users),
        routers=routers,
        migrate=users.views.migrate,
    )
