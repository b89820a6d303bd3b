"""Running a service's handlers on durable JetStream pull consumers.

Each bound subscription gets one durable pull consumer, pulled by callback: a private
inbox receives the messages of `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` requests
(a batch at a time, the next asked for at half water) and a fixed pool of
`policy.concurrency` workers takes them from a queue. A message is validated once from
its bytes, handled, then acked; a transient failure is nak'ed with backoff and jitter; a
permanent one, or the last allowed delivery, goes to the DLQ and is terminated. One bad
message never stops the consumer. Pull requests lost with a server restart are re-issued
when nothing has come back for longer than a request lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from nats.errors import Error as NatsError
from nats.js import api
from pydantic import ValidationError

from runtime.bus.dlq import dead_letter
from runtime.bus.envelope import parse_context
from runtime.bus.failures import PermanentError, PublishError
from runtime.bus.nats_publisher import frame_writer
from runtime.errors import ConfigurationError, ContractError

Observer = Callable[[Any, str, float, int], None]
"""Called after each message with (subscription, outcome, handler seconds, attempt)."""
SpanFactory = Callable[[Any, Any], AbstractContextManager[None]]
"""Given (subscription, message context), a context manager the handler runs inside."""

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription
    from nats.js import JetStreamContext

    from runtime.bus.base import BoundSubscription, ConsumerPolicy

__all__ = ["ConsumerRunner", "backoff_delay"]

log = logging.getLogger(__name__)

ACK = b""  # what Msg.ack() sends: an empty message
NAK = b"-NAK"
TERM = b"+TERM"
STATUS = "Status"
PENDING_MESSAGES = "Nats-Pending-Messages"


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


class ConsumerRunner:
    """Runs the bound subscriptions of one service until `stop()`.

    `batch` is how many messages one pull request asks for; `fetch_timeout` how long a pull
    request waits on the server (and, with a margin, how long silence lasts before the
    request is taken as lost, e.g. by a server restart, and issued again).
    """

    def __init__(
        self,
        nc: Client,
        service: str,
        bound: tuple[BoundSubscription, ...],
        *,
        batch: int = 256,
        fetch_timeout: float = 1.0,
        observe: Observer | None = None,
        span: SpanFactory | None = None,
    ) -> None:
        self._observe = observe
        self._span = span
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._service = service
        self._bound = bound
        self._batch = batch
        self._fetch_timeout = fetch_timeout
        self._pullers: list[_Puller] = []

    async def start(self) -> None:
        """Create or update each durable consumer and start pulling."""
        for bound in self._bound:
            await self._create_consumer(bound)
            puller = _Puller(self, bound)
            self._pullers.append(puller)
            await puller.start()

    async def stop(self) -> None:
        """Stop pulling, let in-flight handlers finish and settle their messages.

        Messages received but not yet handed to a handler are nak'ed without delay, so the
        server redelivers them at once (to another instance, or to this one restarted).
        """
        pullers, self._pullers = self._pullers, []
        await asyncio.gather(*(puller.stop() for puller in pullers))

    async def _create_consumer(self, bound: BoundSubscription) -> None:
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
        except NatsError as exc:
            raise ConfigurationError(
                f"consumer {sub.durable} on stream {sub.stream} ({sub.channel.subject}) "
                f"could not be created: {exc}"
            ) from exc


class _Puller:
    """One durable consumer: its pull requests, its inbox, its queue and its workers."""

    def __init__(self, runner: ConsumerRunner, bound: BoundSubscription) -> None:
        self._runner = runner
        self._nc = runner._nc
        self._bound = bound
        sub = bound.subscription
        policy = sub.policy
        self._batch = max(1, min(runner._batch, policy.max_ack_pending))
        self._low_water = self._batch // 2
        self._expires = runner._fetch_timeout
        # Messages handed back at stop come back once the pull request we leave open has
        # expired: servers before 2.10 keep delivering to it after we unsubscribe.
        self._handback = nak_payload(self._expires * 1.5)
        self._request_subject = f"$JS.API.CONSUMER.MSG.NEXT.{sub.stream}.{sub.durable}"
        self._request = json.dumps(
            {"batch": self._batch, "expires": int(self._expires * 10**9)}
        ).encode()
        self._inbox = self._nc.new_inbox()
        self._queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._sub: NatsSubscription | None = None
        self._write = frame_writer(self._nc)
        # Messages asked for and not yet received; arrivals (messages or statuses) so far.
        self._credits = 0
        self._arrivals = 0
        self._stopping = False
        self._channel = sub.channel
        self._ce_type = sub.channel.ce_type
        self._validate = sub.channel.model.model_validate_json
        self._ack_wait = policy.ack_wait

    async def start(self) -> None:
        sub = self._bound.subscription
        try:
            self._sub = await self._nc.subscribe(
                self._inbox, cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
            await self._pull()
        except NatsError as exc:
            raise ConfigurationError(
                f"consumer {sub.durable} on stream {sub.stream} could not be pulled: {exc}"
            ) from exc
        for _ in range(sub.policy.concurrency):
            self._workers.append(asyncio.create_task(self._work()))
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._sub is not None:
            try:
                # Unsubscribes, then lets the callback see what had already arrived.
                await self._sub.drain()  # type: ignore[no-untyped-call]
            except NatsError:
                with contextlib.suppress(NatsError):
                    await self._sub.unsubscribe()
            self._sub = None
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if msg is not None:
                await self._settle(msg, self._handback)
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers)
        self._workers.clear()

    async def _pull(self) -> None:
        """Ask for another batch."""
        self._credits += self._batch
        await self._nc.publish(self._request_subject, self._request, reply=self._inbox)

    async def _on_message(self, msg: Msg) -> None:
        self._arrivals += 1
        if msg.reply:
            if self._stopping:
                await self._settle(msg, self._handback)
                return
            self._credits -= 1
            self._queue.put_nowait(msg)
        else:
            self._on_status(msg)
        if self._credits + self._queue.qsize() <= self._low_water and not self._stopping:
            await self._pull()

    def _on_status(self, msg: Msg) -> None:
        """A status from the server about one of our pull requests."""
        headers = msg.headers or {}
        status = headers.get(STATUS, "")
        if status == "100":  # idle heartbeat
            return
        pending = headers.get(PENDING_MESSAGES)
        if pending is not None and pending.isdigit():
            # 408: a request expired with this many messages undelivered.
            self._credits = max(0, self._credits - int(pending))
            return
        if status not in ("404", "408"):
            log.warning(
                "pull on %s: status %s %s",
                self._bound.subscription.durable,
                status,
                headers.get("Description", ""),
            )
        # A status that does not say how much it cancels: start the count again.
        self._credits = 0

    async def _watch(self) -> None:
        """Re-issue the pull if nothing came back for longer than a request lives.

        A server restart forgets pending pull requests; nats-py reconnects and resubscribes
        the inbox, but only a new request brings messages again.
        """
        silence = self._expires + max(0.5, self._expires / 2)
        tick = max(0.05, self._expires / 2)
        loop = asyncio.get_running_loop()
        seen, since = self._arrivals, loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            if self._arrivals != seen:
                seen, since = self._arrivals, now
                continue
            if now - since < silence:
                continue
            since = now
            self._credits = 0
            if self._queue.qsize() <= self._low_water:
                try:
                    await self._pull()
                except NatsError:
                    log.exception("pull on %s failed", self._bound.subscription.durable)

    async def _work(self) -> None:
        queue = self._queue
        clock = _HandlerClock(self._ack_wait)
        try:
            while True:
                msg = await queue.get()
                if msg is None:
                    return
                if not self._stopping:
                    await self._process(msg, clock)
                    if self._credits + queue.qsize() <= self._low_water and not self._stopping:
                        try:
                            await self._pull()
                        except NatsError:
                            log.exception("pull on %s failed", self._bound.subscription.durable)
                else:
                    await self._settle(msg, self._handback)
        finally:
            clock.close()

    async def _process(self, msg: Msg, clock: _HandlerClock) -> None:
        bound = self._bound
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
        except (ContractError, ValidationError) as exc:
            await self._dead_letter(msg, exc)
            self._observed("dead_letter", 0.0, attempt)
            return
        span = self._runner._span
        began = time.perf_counter()
        clock.start()
        try:
            if span is None:
                await bound.handle(payload, context)
            else:
                with span(bound.subscription, context):
                    await bound.handle(payload, context)
        except asyncio.CancelledError:
            if not clock.stop():
                raise
            failure: Exception | None = TimeoutError(
                f"the handler ran past ack_wait ({self._ack_wait:g} s)"
            )
        except Exception as exc:
            clock.stop()
            failure = exc
        else:
            # A handler that swallowed the timeout's cancellation still succeeded.
            clock.stop()
            failure = None
        seconds = time.perf_counter() - began
        if failure is None:
            await self._settle(msg, ACK)
            self._observed("ack", seconds, attempt)
        elif isinstance(failure, PermanentError):
            await self._dead_letter(msg, failure)
            self._observed("dead_letter", seconds, attempt)
        else:
            final = attempt >= bound.subscription.policy.max_deliver
            await self._retry_or_dead_letter(msg, failure, attempt)
            self._observed("dead_letter" if final else "retry", seconds, attempt)

    def _observed(self, outcome: str, seconds: float, attempt: int) -> None:
        if self._runner._observe is not None:
            self._runner._observe(self._bound.subscription, outcome, seconds, attempt)

    async def _retry_or_dead_letter(self, msg: Msg, exc: Exception, attempt: int) -> None:
        policy = self._bound.subscription.policy
        if attempt >= policy.max_deliver:
            await self._dead_letter(msg, exc)
            return
        log.warning(
            "%s attempt %d failed, retrying: %r", self._bound.subscription.operation, attempt, exc
        )
        await self._settle(msg, nak_payload(backoff_delay(policy, attempt)))

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        sub = self._bound.subscription
        reason = f"{type(exc).__name__}: {exc}"
        try:
            attempt, sequence = delivery(msg.reply)
        except ContractError:
            attempt, sequence = 1, 0
        try:
            await dead_letter(
                self._runner._js,
                service=self._runner._service,
                durable=sub.durable,
                stream=sub.stream,
                message=(msg.subject, sequence, msg.data, msg.headers),
                error=reason,
                attempts=attempt,
            )
        except PublishError:
            log.exception("dead-lettering %s failed; it will be redelivered", msg.subject)
            await self._settle(msg, nak_payload(backoff_delay(sub.policy, attempt)))
            return
        log.error("%s dead-lettered after %d attempt(s): %s", sub.operation, attempt, reason)
        await self._settle(msg, TERM)

    async def _settle(self, msg: Msg, verdict: bytes) -> None:
        """Ack (empty), nak (`-NAK [{"delay": ns}]`) or term (`+TERM`) `msg`, as nats-py's
        `Msg.ack`/`nak`/`term` do: a plain publish of the verdict to the message's reply."""
        try:
            if self._write is not None and self._nc.is_connected:
                size = len(verdict)
                await self._write(f"PUB {msg.reply} {size}\r\n".encode() + verdict + b"\r\n", size)
            else:
                await self._nc.publish(msg.reply, verdict)
        except NatsError:
            # The server redelivers an unsettled message after ack_wait: nothing is lost.
            log.exception("could not settle a message on %s", msg.subject)


class _HandlerClock:
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
