"""What the demo sees on NATS: every subject's message count, and each order's outcome event."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["OUTCOMES", "BusWatch"]

OUTCOMES = ("order.confirmed.v1", "order.cancelled.v1")
_INTERNAL = ("$", "_INBOX")  # `_INBOX.` and each service's `_INBOX_<service>.`
_DELIVERY = "$JS.ACK."


class BusWatch:
    """Subscribes to `>`: counts messages published per subject (not NATS's own `$...` and
    inbox traffic, nor deliveries to consumers), and keeps when each order's outcome came."""

    def __init__(self) -> None:
        self.subjects: Counter[str] = Counter()
        self._outcomes: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        self._subscription: Subscription | None = None

    async def start(self, nc: Client) -> None:
        """Subscribe to every subject."""
        self._subscription = await nc.subscribe(">", cb=self._on_message, pending_msgs_limit=-1)

    async def stop(self) -> None:
        """Unsubscribe."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    def outcome(self, order_id: str) -> tuple[float, str] | None:
        """(perf_counter time, subject) of the order's outcome event, if seen."""
        return self._outcomes.get(order_id)

    async def wait(self, order_id: str, timeout: float) -> tuple[float, str] | None:
        """Wait up to `timeout` seconds for the order's outcome event."""
        if order_id not in self._outcomes:
            event = self._waiters.setdefault(order_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return None
        return self._outcomes.get(order_id)

    async def _on_message(self, msg: Msg) -> None:
        subject = msg.subject
        # JetStream hands each stored message to every consumer under its own subject, with
        # a `$JS.ACK.` reply: only the publish itself counts.
        if subject.startswith(_INTERNAL) or (msg.reply or "").startswith(_DELIVERY):
            return
        self.subjects[subject] += 1
        if subject in OUTCOMES:
            try:
                order_id = str(json.loads(msg.data)["order_id"])
            except (ValueError, KeyError, TypeError):
                return
            self._outcomes.setdefault(order_id, (time.perf_counter(), subject))
            self._waiters.setdefault(order_id, asyncio.Event()).set()
