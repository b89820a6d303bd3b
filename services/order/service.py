"""The order service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from generated.order.api import build_router
from generated.order.events import SUBSCRIPTIONS
from generated.user.client import UserClient
from runtime.saga import scan_deadlines
from runtime.saga.postgres import PostgresSagaStore
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.order.api import OrderApi
from services.order.handlers import OrderHandlers
from services.order.saga import OrderSaga, Timeouts
from services.order.views import OrderViews

__all__ = ["definition"]

NAME = "order"


def definition(
    *, user_url: str | None = None, timeouts: Timeouts | None = None, scan_interval: float = 0.5
) -> ServiceDefinition:
    """The order service: saga handlers, REST API, and the deadline scanner."""
    views, sagas = OrderViews(NAME), PostgresSagaStore(NAME, stream_prefix="order-")
    saga = OrderSaga(views, sagas, timeouts or Timeouts())

    async def migrate(connection: Any) -> None:
        await views.migrate(connection)
        await sagas.migrate(connection)

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        url = user_url or os.environ.get("A4CO_USER_URL", "")
        return [build_router(OrderApi(ctx, saga, UserClient(url, timeout=1.0)))]

    def jobs(ctx: ServiceContext, _handlers: object) -> Sequence[Job]:
        async def scan() -> int:
            async def on_timeout(tx: Any, state: Any) -> None:
                await saga.timed_out(tx, state, now=ctx.clock())

            return await scan_deadlines(ctx.transaction, sagas, on_timeout, now=ctx.clock())

        async def count() -> None:
            metrics = ctx.extras.get("metrics")
            async with ctx.transaction() as tx:
                steps = await sagas.count_by_step(tx)
                overdue = await sagas.count_overdue(tx, ctx.clock())
            if metrics is not None:
                for step, n in steps.items():
                    metrics.sagas.labels(NAME, step).set(n)
                metrics.sagas_overdue.labels(NAME).set(overdue)

        return [
            Job("order deadline scanner", scan_interval, scan),
            Job("order saga gauges", 2.0, count),
        ]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: OrderHandlers(ctx, saga),
        routers=routers,
        migrate=migrate,
        jobs=jobs,
    )
