"""An open-loop burst of orders: each POST leaves on its schedule, whatever the answers.

The load does not wait for an order before placing the next, so a fault that slows the
platform shows as a backlog (and a longer time to settle), not as a slower client.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import httpx

from tests.e2e.harness import TEST_KEY

CUSTOMERS = 8
POST_TIMEOUT = 30.0
"""Seconds one POST may take: longer than any fault here, so a slow answer is not a refusal."""


@dataclass(frozen=True, slots=True)
class Placement:
    """One POST: when it left (wall clock), the order it made, or why it was refused."""

    sent_at: float
    order_id: UUID | None
    error: str = ""


@dataclass
class BurstResult:
    """Every placement of a burst, its offered rate and when the fault struck."""

    rate: float
    seconds: float
    placements: list[Placement] = field(default_factory=list)
    sending_seconds: float = 0.0
    """From the first POST out to the last one out: the rate the client kept up."""
    fault_at: float = 0.0
    """Wall clock (`time.time()`) when the fault began."""

    @property
    def accepted(self) -> list[UUID]:
        """The orders the service answered 201 for."""
        return [p.order_id for p in self.placements if p.order_id is not None]

    @property
    def refused(self) -> list[Placement]:
        """The POSTs that failed (an error status, or no answer)."""
        return [p for p in self.placements if p.order_id is None]

    @property
    def achieved_rate(self) -> float:
        """POSTs sent per second, as the client managed to send them."""
        return len(self.placements) / max(self.sending_seconds, 1e-9)


class Burst:
    """Places pickup orders for one product at a fixed rate, as a few customers."""

    def __init__(self, order_url: str, product: UUID, customers: list[UUID]) -> None:
        self._product = product
        self._tokens = [(c, TEST_KEY.issue(c, ["customer"])) for c in customers]
        self._http = httpx.AsyncClient(
            base_url=order_url,
            timeout=POST_TIMEOUT,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            trust_env=False,
        )

    async def run(
        self,
        *,
        rate: float,
        seconds: float,
        fault_after: float,
        fault: Callable[[], Awaitable[object]],
    ) -> BurstResult:
        """Offer `rate` orders/s for `seconds`; start `fault` `fault_after` seconds in."""
        result = BurstResult(rate=rate, seconds=seconds)
        count = round(rate * seconds)
        loop = asyncio.get_running_loop()
        began = loop.time()

        async def strike() -> None:
            await asyncio.sleep(fault_after)
            result.fault_at = time.time()
            await fault()

        striking = asyncio.create_task(strike())
        posts = []
        for index in range(count):
            await asyncio.sleep(max(0.0, began + index / rate - loop.time()))
            posts.append(asyncio.create_task(self._place(index)))
        result.sending_seconds = loop.time() - began
        result.placements = list(await asyncio.gather(*posts))
        await striking
        return result

    async def _place(self, index: int) -> Placement:
        customer, token = self._tokens[index % len(self._tokens)]
        body = {
            "customer_id": str(customer),
            "items": [{"product_id": str(self._product), "quantity": 1}],
            "delivery": {"method": "pickup"},
            "card_token": "tok_visa_ok",
        }
        sent_at = time.time()
        try:
            response = await self._http.post(
                "/orders", json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            return Placement(sent_at, None, f"{type(exc).__name__}: {exc}")
        if response.status_code != 201:
            return Placement(sent_at, None, f"{response.status_code}: {response.text[:200]}")
        return Placement(sent_at, uuid.UUID(response.json()["order_id"]))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
