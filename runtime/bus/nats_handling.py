"""What a durable consumer does with the messages it pulled: decode, handle, settle.

Messages a worker takes together are handled in one unit of work (one database
transaction, given by the service as a `BatchScope`) and acked after it commits. If that
unit fails for any reason, it was rolled back whole, and each message is handled again on
its own, as if no batch had been tried: so a poison message is isolated (dead-lettered or
retried alone) and every other message is applied exactly once. A message that fails its
envelope or schema is dead-lettered before any handler sees it, and so is one whose handler
fails in a way no retry can mend (`failures.is_permanent`: a data error), on its first
delivery; other failures are retried with backoff up to `max_deliver`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runtime.bus.dlq import dead_letter
from runtime.bus.envelope import parse_context
from runtime.bus.failures import PublishError, failure_reason, is_permanent
from runtime.bus.nats_publisher import frame_writer
from runtime.errors import ContractError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from runtime.bus.base import BatchScope, BoundSubscription, ConsumerPolicy, MessageContext

__all__ = [
    "ACK",
    "HandlerClock",
    "MessageHandling",
    "Observer",
    "SpanFactory",
    "backoff_delay",
    "delivery",
    "nak_payload",
]

log = logging.getLogger(__name__)

Observer = Callable[[Any, str, float, int], None]
"""Called after each message with (subscription, outcome, handler seconds, attempt)."""
SpanFactory = Callable[[Any, Any], AbstractContextManager[None]]
"""Given (subscription, message context), a context manager the handler runs inside."""

ACK = b""  # what Msg.ack() sends: an empty message
NAK = b"-NAK"
TERM = b"+TERM"

Decoded = tuple["Msg", BaseModel, "MessageContext"]


def backoff_delay(policy: ConsumerPolicy, attempt: int, jitter: float = 0.2) -> float:
    """The nak delay after failed delivery `attempt` (1-based), +/- `jitter` of itself."""
    if not policy.backoff:
        return 0.0
    base = policy.backoff[min(attempt, len(policy.backoff)) - 1]
    return max(0.0, base * (1.0 + random.uniform(-jitter, jitter)))


def nak_payload(delay: float) -> bytes:
    """What `Msg.nak(delay=...)` of nats-py 2.16 sends: `-NAK {"delay": ns}`, or `-NAK`."""
    if not delay:
        return NAK
    return NAK + b" " + json.dumps({"delay": int(delay * 10**9)}).encode()


def delivery(reply: str) -> tuple[int, int]:
    """(number of deliveries, stream sequence) from a JetStream ack subject.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the v2 form
    with `<domain>.<account hash>` after `ACK` (and a random token at the end).
    """
    tokens = reply.split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[4]), int(tokens[5])
    if len(tokens) >= 11 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[6]), int(tokens[7])
    raise ContractError(f"{reply!r} is not a JetStream ack subject")


class MessageHandling:
    """Decodes, handles and settles the messages of one bound subscription."""

    def __init__(
        self,
        nc: Client,
        service: str,
        bound: BoundSubscription,
        *,
        observe: Observer | None,
        span: SpanFactory | None,
        batch: BatchScope | None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._write = frame_writer(nc)
        self._service = service
        self._bound = bound
        self._observe = observe
        self._span = span
        self._batch = batch
        channel = bound.subscription.channel
        self._ce_type = channel.ce_type
        self._validate = channel.read
        self._upcasting = bound.subscription.upcasting
        self.ack_wait = bound.subscription.policy.ack_wait

    async def process(self, msgs: Sequence[Msg], clock: HandlerClock) -> None:
        """Handle `msgs` (taken together by one worker), then settle each of them."""
        decoded = [d for d in [await self._decode(msg) for msg in msgs] if d is not None]
        if len(decoded) > 1 and self._batch is not None and await self._in_one(decoded, clock):
            return
        for msg, payload, context in decoded:
            await self._one(msg, payload, context, clock)

    async def settle(self, msg: Msg, verdict: bytes) -> None:
        """Ack (empty), nak (`-NAK [{"delay": ns}]`) or term (`+TERM`) `msg`, as nats-py's
        `Msg.ack`/`nak`/`term` do: a plain publish of the verdict to the message's reply."""
        try:
            if self._write is not None and self._nc.is_connected:
                size = len(verdict)
                await self._write(f"PUB {msg.reply} {size}\r\n".encode() + verdict + b"\r\n", size)
            else:
                await self._nc.publish(msg.reply, verdict)
        except Exception:
            # The server redelivers an unsettled message after ack_wait: nothing is lost.
            log.exception("could not settle a message on %s", msg.subject)

    async def _decode(self, msg: Msg) -> Decoded | None:
        """The message's payload and context, or None once it is dead-lettered as invalid."""
        attempt = 1
        try:
            attempt, sequence = delivery(msg.reply)
            context = parse_context(
                msg.headers, bus_subject=msg.subject, stream_sequence=sequence, attempt=attempt
            )
            if context.type != self._ce_type:
                raise ContractError(
                    f"ce-type {context.type!r} on {msg.subject}, expected {self._ce_type!r}"
                )
            payload = self._validate(msg.data)
            if self._upcasting is not None:
                payload, context = self._upcasting.read(payload, context)
        except (ContractError, ValidationError) as exc:
            await self._dead_letter(msg, exc)
            self._observed("dead_letter", 0.0, attempt)
            return None
        return msg, payload, context

    async def _in_one(self, decoded: list[Decoded], clock: HandlerClock) -> bool:
        """Handle every message in one unit of work and ack them all; False if it failed.

        A failure anywhere rolls the whole unit back, so nothing of it stays applied.
        """
        assert self._batch is not None
        began = time.perf_counter()
        failure = await self._run(clock, self._handle_all, decoded)
        if failure is not None:
            log.info(
                "%s: a batch of %d failed (%s: %s); handling its messages one at a time",
                self._bound.subscription.operation,
                len(decoded),
                type(failure).__name__,
                failure,
            )
            return False
        seconds = (time.perf_counter() - began) / len(decoded)
        for msg, _, context in decoded:
            await self.settle(msg, ACK)
            self._observed("ack", seconds, context.attempt)
        return True

    async def _handle_all(self, decoded: list[Decoded]) -> None:
        assert self._batch is not None
        async with self._batch(self._bound.subscription, [context for *_, context in decoded]):
            for _, payload, context in decoded:
                await self._handle(payload, context)

    async def _one(
        self, msg: Msg, payload: BaseModel, context: MessageContext, clock: HandlerClock
    ) -> None:
        """Handle one message in a unit of work of its own, then settle it."""
        began = time.perf_counter()
        failure = await self._run(clock, self._handle_one, (payload, context))
        seconds = time.perf_counter() - began
        attempt = context.attempt
        if failure is None:
            await self.settle(msg, ACK)
            self._observed("ack", seconds, attempt)
        elif is_permanent(failure):  # a data error fails alike on every retry
            await self._dead_letter(msg, failure)
            self._observed("dead_letter", seconds, attempt)
        else:
            final = attempt >= self._bound.subscription.policy.max_deliver
            await self._retry_or_dead_letter(msg, failure, attempt)
            self._observed("dead_letter" if final else "retry", seconds, attempt)

    async def _handle_one(self, work: tuple[BaseModel, MessageContext]) -> None:
        await self._handle(*work)

    async def _handle(self, payload: BaseModel, context: MessageContext) -> None:
        if self._span is None:
            await self._bound.handle(payload, context)
        else:
            with self._span(self._bound.subscription, context):
                await self._bound.handle(payload, context)

    async def _run(
        self, clock: HandlerClock, work: Callable[[Any], Awaitable[None]], arg: Any
    ) -> Exception | None:
        """Await `work(arg)` under the worker's `ack_wait` clock; the failure, or None."""
        clock.start()
        try:
            await work(arg)
        except asyncio.CancelledError:
            if not clock.stop():
                raise
            return TimeoutError(f"the handler ran past ack_wait ({self.ack_wait:g} s)")
        except Exception as exc:
            clock.stop()
            return exc
        # A handler that swallowed the timeout's cancellation still succeeded.
        clock.stop()
        return None

    def _observed(self, outcome: str, seconds: float, attempt: int) -> None:
        if self._observe is not None:
            self._observe(self._bound.subscription, outcome, seconds, attempt)

    async def _retry_or_dead_letter(self, msg: Msg, exc: Exception, attempt: int) -> None:
        policy = self._bound.subscription.policy
        if attempt >= policy.max_deliver:
            await self._dead_letter(msg, exc)
            return
        log.warning(
            "%s attempt %d failed, retrying: %r", self._bound.subscription.operation, attempt, exc
        )
        await self.settle(msg, nak_payload(backoff_delay(policy, attempt)))

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        sub = self._bound.subscription
        reason = failure_reason(exc)
        try:
            attempt, sequence = delivery(msg.reply)
        except ContractError:
            attempt, sequence = 1, 0
        try:
            await dead_letter(
                self._js,
                service=self._service,
                durable=sub.durable,
                stream=sub.stream,
                message=(msg.subject, sequence, msg.data, msg.headers),
                error=reason,
                attempts=attempt,
            )
        except PublishError:
            log.exception("dead-lettering %s failed; it will be redelivered", msg.subject)
            await self.settle(msg, nak_payload(backoff_delay(sub.policy, attempt)))
            return
        log.error("%s dead-lettered after %d attempt(s): %s", sub.operation, attempt, reason)
        await self.settle(msg, TERM)


class HandlerClock:
    """One worker's handler timeout (`ack_wait`), as `asyncio.timeout` but with one timer
    re-armed lazily instead of one per message (`asyncio.timeout` costs ~3.5 us a message,
    a tenth of the whole consumer's time).

    `start()` before the handler, `stop()` after it (also after an exception): `stop()`
    says whether the handler was cancelled by this clock, and takes that cancellation back
    from the task, so only a cancellation from elsewhere propagates.
    """

    __slots__ = ("_expired", "_limit", "_loop", "_task", "_timer", "_until")

    def __init__(self, limit: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "a worker runs in a task"
        self._task = task
        self._limit = limit
        self._until = 0.0  # 0: no handler running
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def start(self) -> None:
        self._until = until = self._loop.time() + self._limit
        if self._timer is None:
            self._timer = self._loop.call_at(until, self._fire)

    def stop(self) -> bool:
        self._until = 0.0
        if not self._expired:
            return False
        self._expired = False
        # Our cancel() is counted by the task: take it back. If the count stays above
        # zero, someone else cancelled the task too, and the caller must re-raise.
        return self._task.uncancel() == 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if not self._until:
            return  # idle: the next start() sets a timer
        if self._loop.time() >= self._until:
            self._expired = True
            self._task.cancel()
        else:  # a later handler is running: wait for its deadline
            self._timer = self._loop.call_at(self._until, self._fire)
