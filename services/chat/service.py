"""The chat service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence

from fastapi import APIRouter

from generated.chat.api import build_router
from generated.chat.events import SUBSCRIPTIONS
from generated.user.client import UserClient
from runtime.service import ServiceContext, ServiceDefinition
from services.chat.api import ChatApi
from services.chat.handlers import ChatHandlers
from services.chat.names import UserDirectory
from services.chat.tables import ChatTables

__all__ = ["NAME", "definition"]

NAME = "chat"


def definition(*, user_url: str | None = None) -> ServiceDefinition:
    """The chat service: conversations and messages, names from the user service (REST, with
    a circuit breaker) and its events."""
    tables = ChatTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        url = user_url or os.environ.get("A4CO_USER_URL", "")
        users = UserDirectory(UserClient(url, timeout=1.0))
        return [build_router(ChatApi(ctx, tables, users))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: ChatHandlers(ctx, tables),
        routers=routers,
        migrate=tables.migrate,
    )
