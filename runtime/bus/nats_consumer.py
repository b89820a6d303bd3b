"""Running a service's handlers on durable JetStream pull consumers.

Each bound subscription gets one durable pull consumer and one fetch loop. A message is
validated once from its bytes, handled with bounded concurrency, then acked; a transient
failure is nak'ed with backoff and jitter; a permanent one, or the last allowed delivery,
goes to the DLQ and is terminated. One bad message never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js import api
from pydantic import ValidationError

from runtime.bus.dlq import dead_letter
from runtime.bus.envelope import parse_context
from runtime.bus.failures import PermanentError, PublishError
from runtime.errors import ConfigurationError, ContractError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from runtime.bus.base import BoundSubscription, ConsumerPolicy

__all__ = ["ConsumerRunner", "backoff_delay"]

log = logging.getLogger(__name__)


def backoff_delay(policy: ConsumerPolicy, attempt: int, jitter: float = 0.2) -> float:
    """The nak delay after failed delivery `attempt` (1-based), +/- `jitter` of itself."""
    if not policy.backoff:
        return 0.0
    base = policy.backoff[min(attempt, len(policy.backoff)) - 1]
    return max(0.0, base * (1.0 + random.uniform(-jitter, jitter)))


class ConsumerRunner:
    """Runs the bound subscriptions of one service until `stop()`."""

    def __init__(
        self,
        nc: Client,
        service: str,
        bound: tuple[BoundSubscription, ...],
        *,
        batch: int = 256,
        fetch_timeout: float = 1.0,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._service = service
        self._bound = bound
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Create or update each durable consumer and start fetching."""
        for bound in self._bound:
            psub = await self._subscribe(bound)
            self._loops.append(asyncio.create_task(self._fetch_loop(bound, psub)))

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish and settle their messages."""
        self._stopping.set()
        await asyncio.gather(*self._loops)
        if self._in_flight:
            await asyncio.gather(*self._in_flight)
        self._loops.clear()

    async def _subscribe(self, bound: BoundSubscription) -> JetStreamContext.PullSubscription:
        sub, policy = bound.subscription, bound.subscription.policy
        config = api.ConsumerConfig(
            name=sub.durable,
            durable_name=sub.durable,
            filter_subject=sub.channel.subject,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            max_deliver=policy.max_deliver,
            ack_wait=policy.ack_wait,
            max_ack_pending=policy.max_ack_pending,
        )
        try:
            await self._js.add_consumer(sub.stream, config)
            return await self._js.pull_subscribe_bind(durable=sub.durable, stream=sub.stream)
        except NatsError as exc:
            raise ConfigurationError(
                f"consumer {sub.durable} on stream {sub.stream} ({sub.channel.subject}) "
                f"could not be created: {exc}"
            ) from exc

    async def _fetch_loop(
        self, bound: BoundSubscription, psub: JetStreamContext.PullSubscription
    ) -> None:
        policy = bound.subscription.policy
        slots = asyncio.Semaphore(policy.concurrency)
        batch = max(1, min(self._batch, policy.max_ack_pending))
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await psub.fetch(batch, timeout=self._fetch_timeout)
                except TimeoutError:  # nats-py raises both its own and asyncio's
                    continue
                except NatsError:
                    # A reconnect or a consumer lost on the server: retry after a pause.
                    log.exception("fetch on %s failed", bound.subscription.durable)
                    await asyncio.sleep(self._fetch_timeout)
                    continue
                for msg in msgs:
                    await slots.acquire()
                    task = asyncio.create_task(self._process(bound, msg))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    task.add_done_callback(lambda _: slots.release())
        finally:
            await psub.unsubscribe()

    async def _process(self, bound: BoundSubscription, msg: Msg) -> None:
        sub = bound.subscription
        meta = msg.metadata
        attempt = meta.num_delivered or 1
        try:
            context = parse_context(
                msg.headers,
                bus_subject=msg.subject,
                stream_sequence=meta.sequence.stream,
                attempt=attempt,
            )
            if context.type != sub.channel.ce_type:
                raise ContractError(
                    f"ce-type {context.type!r} on {msg.subject}, expected {sub.channel.ce_type!r}"
                )
            payload = sub.channel.model.model_validate_json(msg.data)
        except (ContractError, ValidationError) as exc:
            await self._dead_letter(bound, msg, exc, attempt)
            return
        try:
            async with asyncio.timeout(sub.policy.ack_wait):
                await bound.handle(payload, context)
        except PermanentError as exc:
            await self._dead_letter(bound, msg, exc, attempt)
        except Exception as exc:
            await self._retry_or_dead_letter(bound, msg, exc, attempt)
        else:
            await self._settle(msg.ack(), msg)

    async def _retry_or_dead_letter(
        self, bound: BoundSubscription, msg: Msg, exc: Exception, attempt: int
    ) -> None:
        policy = bound.subscription.policy
        if attempt >= policy.max_deliver:
            await self._dead_letter(bound, msg, exc, attempt)
            return
        log.warning(
            "%s attempt %d failed, retrying: %r", bound.subscription.operation, attempt, exc
        )
        await self._settle(msg.nak(delay=backoff_delay(policy, attempt)), msg)

    async def _dead_letter(
        self, bound: BoundSubscription, msg: Msg, exc: Exception, attempt: int
    ) -> None:
        sub = bound.subscription
        reason = f"{type(exc).__name__}: {exc}"
        try:
            await dead_letter(
                self._js,
                service=self._service,
                durable=sub.durable,
                stream=sub.stream,
                message=(msg.subject, msg.metadata.sequence.stream, msg.data, msg.headers),
                error=reason,
                attempts=attempt,
            )
        except PublishError:
            log.exception("dead-lettering %s failed; it will be redelivered", msg.subject)
            await self._settle(msg.nak(delay=backoff_delay(sub.policy, attempt)), msg)
            return
        log.error("%s dead-lettered after %d attempt(s): %s", sub.operation, attempt, reason)
        await self._settle(msg.term(), msg)

    @staticmethod
    async def _settle(action: Awaitable[None], msg: Msg) -> None:
        try:
            await action
        except NatsError:
            # The server redelivers an unsettled message after ack_wait: nothing is lost.
            log.exception("could not settle a message on %s", msg.subject)
