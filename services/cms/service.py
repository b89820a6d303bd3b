"""The cms service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.cms.api import build_router
from generated.cms.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.cms.api import CmsApi
from services.cms.pages import PageTables

__all__ = ["NAME", "definition"]

NAME = "cms"


def definition() -> ServiceDefinition:
    """The cms service: pages and their versions, and the REST API; it receives nothing."""
    pages = PageTables(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(CmsApi(ctx, pages))]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda _ctx: object(),
        routers=routers,
        migrate=pages.migrate,
    )
