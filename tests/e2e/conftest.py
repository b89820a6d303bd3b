"""The order saga's services, in process on the session's real servers, once per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.inventory.service import definition as inventory
from services.order.saga import Timeouts
from services.order.service import definition as order
from services.payment.service import definition as payment
from services.user.service import definition as user
from tests.e2e.harness import InProcessPlatform, platform

PAYMENT_TIMEOUT = timedelta(seconds=2)


@pytest.fixture(scope="module")
async def saga_platform(nats_url: str, database_url: str) -> AsyncIterator[InProcessPlatform]:
    """user, inventory, payment and order (with a 2 s payment deadline for the timeout test)."""
    definitions = {
        "user": lambda urls: user(),
        "inventory": lambda urls: inventory(expiry_interval=0.5),
        "payment": lambda urls: payment(),
        "order": lambda urls: order(
            user_url=urls["user"], scan_interval=0.2, timeouts=Timeouts(payment=PAYMENT_TIMEOUT)
        ),
    }
    async with platform(nats_url, database_url, definitions) as running:
        yield running
