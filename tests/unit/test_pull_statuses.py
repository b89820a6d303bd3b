"""How a consumer answers the server's statuses to its pull requests, on a fake connection.

A 503 (no responders: the consumer has no leader while a cluster elects one) comes back at
once; pulling again at once spun every consumer of every service during a node's loss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel

from runtime.bus import Channel, ConsumerPolicy, MessageContext, Subscription, bind_handlers
from runtime.bus.nats import ConsumerRunner

NEXT = "$JS.API.CONSUMER.MSG.NEXT.ORDER.order_on_ping"


class Ping(BaseModel):
    """A test message."""

    n: int


class Handlers:
    """Handles nothing: no message reaches it here."""

    async def on_ping(self, payload: Ping, context: MessageContext) -> None:
        """Never called."""


class FakeSubscription:
    """What `subscribe` returns; stopping drains it."""

    async def drain(self) -> None:
        """Nothing to drain."""


class FakeJetStream:
    """Creates consumers without a server."""

    async def add_consumer(self, stream: str, config: Any) -> None:
        """Accept any consumer."""


class FakeConnection:
    """Records the pull requests published and keeps the inbox callback, as a server would."""

    is_connected = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.deliver: Callable[[Msg], Awaitable[None]] | None = None

    def jetstream(self) -> FakeJetStream:
        return FakeJetStream()

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(
        self, subject: str, *, cb: Callable[[Msg], Awaitable[None]], **_: Any
    ) -> Any:
        self.deliver = cb
        return FakeSubscription()

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "", **_: Any) -> None:
        self.requests.append(subject)

    async def status(self, code: str, description: str) -> None:
        """The server answers the open pull request with a status and no message."""
        assert self.deliver is not None
        headers = {"Status": code, "Description": description}
        await self.deliver(Msg(cast(Client, self), subject="_INBOX.test", headers=headers))


async def runner_on(nc: FakeConnection, fetch_timeout: float = 30.0) -> ConsumerRunner:
    """A started runner of one subscription on `nc`."""
    channel = Channel(subject="order.ping.v1", message="Ping", model=Ping, kind="event", owner="t")
    subscription = Subscription(
        channel=channel,
        stream="ORDER",
        durable="order_on_ping",
        handler="on_ping",
        operation="receivePing",
        policy=ConsumerPolicy(max_deliver=3, ack_wait=5.0, backoff=(0.05,), concurrency=1),
    )
    bound = bind_handlers("order", Handlers(), (subscription,))
    runner = ConsumerRunner(cast(Client, nc), "order", bound, fetch_timeout=fetch_timeout)
    await runner.start()
    return runner


async def test_a_no_responders_status_is_not_answered_with_another_pull_at_once() -> None:
    nc = FakeConnection()
    runner = await runner_on(nc)
    try:
        assert nc.requests == [NEXT]
        for _ in range(100):
            await nc.status("503", "No Responders")
        assert nc.requests == [NEXT]
    finally:
        await runner.stop()


async def test_an_expired_request_is_followed_by_the_next_one() -> None:
    nc = FakeConnection()
    runner = await runner_on(nc)
    try:
        await nc.status("408", "Request Timeout")
        assert nc.requests == [NEXT, NEXT]
    finally:
        await runner.stop()


async def test_after_a_no_responders_status_the_watchdog_pulls_again() -> None:
    nc = FakeConnection()
    runner = await runner_on(nc, fetch_timeout=0.05)
    try:
        await nc.status("503", "No Responders")
        deadline = asyncio.get_running_loop().time() + 30
        while len(nc.requests) < 2:
            assert asyncio.get_running_loop().time() < deadline, "never pulled again"
            await asyncio.sleep(0.05)
        assert set(nc.requests) == {NEXT}
    finally:
        await runner.stop()
