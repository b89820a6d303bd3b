"""Place the demo's orders through the gateway, a few at a time, and time each to its outcome.

An order is settled when `GET /api/order/orders/{id}` shows a final status; its time to
settle runs from its POST to its outcome event on the bus (or to that GET, if no event came).
A call that fails is that order's outcome (`not placed`, or `unsettled` with its id and the
last error), never the end of the run: the summary names what settled and what did not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from a4co.cli.cast import Cast
from a4co.cli.gateway import DemoError, Gateway, Token
from a4co.cli.watch import BusWatch

__all__ = ["FINAL", "NOT_PLACED", "UNSETTLED", "OrderRun", "Outcome", "declined", "place_orders"]

FINAL = frozenset({"confirmed", "cancelled", "rejected", "delivered"})
UNSETTLED = "unsettled"
"""Placed, but not in a final status by its deadline."""
NOT_PLACED = "not placed"
"""Its POST failed for good (the error says why)."""
CATALOGUE_WAIT = 30.0
"""Seconds the first orders may wait for the order service to learn of a new product."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One order's end: its status (or `unsettled`, `not placed`), seconds to settle, its card,
    and the last error met on the way (empty if none)."""

    order_id: str
    status: str
    seconds: float
    declined_card: bool
    error: str = ""

    @property
    def settled(self) -> bool:
        """Whether it reached a final status."""
        return self.status in FINAL


@dataclass
class OrderRun:
    """All outcomes, and how long placing and settling took."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0


def declined(index: int, rate: float) -> bool:
    """Whether order `index` pays with `tok_declined`: spread evenly, `rate` of all orders."""
    return int((index + 1) * rate) > int(index * rate)


async def place_orders(
    gateway: Gateway,
    cast: Cast,
    watch: BusWatch,
    *,
    count: int,
    concurrency: int,
    decline_rate: float,
    settle_timeout: float,
    on_settled: Callable[[Outcome], None],
    run: OrderRun | None = None,
) -> OrderRun:
    """Place `count` orders with at most `concurrency` in flight; wait for each to settle.

    Outcomes are added to `run` (a new one if None) as they come, so a caller interrupted
    meanwhile still has those.
    """
    run = OrderRun() if run is None else run
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            outcome = await _order(
                gateway, cast, watch, index, declined(index, decline_rate), settle_timeout
            )
            run.outcomes.append(outcome)
            on_settled(outcome)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    run.seconds = time.perf_counter() - began
    return run


async def _order(
    gateway: Gateway, cast: Cast, watch: BusWatch, index: int, decline: bool, timeout: float
) -> Outcome:
    customer = cast.customers[index % len(cast.customers)]
    body: dict[str, Any] = {
        "customer_id": customer.user_id,
        "items": [{"product_id": cast.product_id, "quantity": 1}],
        "delivery": {"method": "pickup"},
        "card_token": "tok_declined" if decline else "tok_visa_ok",
    }
    try:
        order_id, began = await _place(gateway, cast, customer.bearer(), body)
    except DemoError as exc:
        return Outcome("", NOT_PLACED, 0.0, decline, error=str(exc))
    settle_by, error = time.monotonic() + timeout, ""
    while time.monotonic() < settle_by:
        seen = await watch.wait(order_id, timeout=1.0)
        try:
            order = await gateway.call("GET", f"/order/orders/{order_id}", token=customer.bearer())
        except DemoError as exc:  # unavailable for longer than a call waits: ask again
            error = str(exc)
            continue
        if order["status"] in FINAL:
            ended = seen[0] if seen is not None else time.perf_counter()
            return Outcome(order_id, str(order["status"]), ended - began, decline)
        if seen is not None:  # the event is out; the read model follows in a moment
            await asyncio.sleep(0.05)
    return Outcome(order_id, UNSETTLED, timeout, decline, error=error)


async def _place(
    gateway: Gateway, cast: Cast, token: Token, body: dict[str, Any]
) -> tuple[str, float]:
    """POST the order; its id and when it was placed (`perf_counter`)."""
    deadline = time.monotonic() + CATALOGUE_WAIT
    while True:
        began = time.perf_counter()
        try:
            placed = await gateway.call("POST", "/order/orders", token=token, body=body)
        except DemoError as exc:  # a product listed a moment ago may not be in the catalogue yet
            if exc.status != 422 or "unknown product" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise DemoError(
                    f"the order service did not learn of product {cast.product_id} "
                    f"within {CATALOGUE_WAIT:g} s: {exc}"
                ) from exc
            await asyncio.sleep(0.2)
            continue
        return str(placed["order_id"]), began
