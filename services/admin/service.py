"""The admin service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter

from generated.admin.api import build_router
from generated.artisan.client import ArtisanClient
from runtime.bus.dlq import dead_letter_counts
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.admin.api import AdminApi
from services.admin.redrives import RedriveLog

if TYPE_CHECKING:
    from nats.aio.client import Client

    from runtime.observability import PlatformMetrics

__all__ = ["NAME", "definition"]

NAME = "admin"
GAUGE_INTERVAL = 5.0
"""Seconds between two counts of the DLQ stream for the `a4co_dead_letters` gauge."""


def definition(*, artisan_url: str | None = None) -> ServiceDefinition:
    """The admin service: REST only (no AsyncAPI, so no subscriptions), on the artisan
    service's REST API and the DLQ stream."""
    redrives = RedriveLog(NAME)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        url = artisan_url or os.environ.get("A4CO_ARTISAN_URL", "")
        artisans = ArtisanClient(url, timeout=1.0)
        return [build_router(AdminApi(ctx, artisans, redrives))]

    def jobs(ctx: ServiceContext, _handlers: object) -> Sequence[Job]:
        counted: set[tuple[str, str]] = set()

        async def count() -> None:
            nc: Client = ctx.extras["nats"]
            metrics: PlatformMetrics | None = ctx.extras.get("metrics")
            counts = await dead_letter_counts(nc.jetstream())
            if metrics is not None:
                # A consumer whose letters were all redriven or removed goes back to 0.
                for service, durable in counted | counts.keys():
                    n = counts.get((service, durable), 0)
                    metrics.dead_letters.labels(service, durable).set(n)
            counted.update(counts)

        return [Job("admin dead letter gauge", GAUGE_INTERVAL, count)]

    return ServiceDefinition(
        name=NAME,
        subscriptions=(),
        handlers=lambda _ctx: object(),
        routers=routers,
        migrate=redrives.migrate,
        jobs=jobs,
    )
