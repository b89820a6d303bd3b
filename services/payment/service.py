"""The payment service's composition root."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from generated.payment.api import build_router
from generated.payment.events import SUBSCRIPTIONS
from runtime.service import ServiceContext, ServiceDefinition
from services.payment.api import PaymentApi
from services.payment.domain import SimulatedGateway
from services.payment.handlers import PaymentHandlers
from services.payment.payments import PaymentTables

__all__ = ["definition"]


def definition(*, gateway: SimulatedGateway | None = None) -> ServiceDefinition:
    """Payment: charges through the gateway adapter (the simulator by default)."""
    tables = PaymentTables()

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        return [build_router(PaymentApi(ctx, tables))]

    return ServiceDefinition(
        name="payment",
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: PaymentHandlers(ctx, tables, gateway or SimulatedGateway()),
        routers=routers,
        migrate=tables.migrate,
    )
