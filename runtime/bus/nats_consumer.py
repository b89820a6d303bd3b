"""Running a service's handlers on durable JetStream pull consumers.

Each bound subscription gets one durable pull consumer, pulled by callback: a private
inbox receives the messages of `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` requests
(a batch at a time, the next asked for at half water) and a fixed pool of
`policy.concurrency` workers takes them from a queue. A worker takes the messages waiting
(up to the policy's `batch`) and hands them to `MessageHandling`, which handles them in one
unit of work and acks after its commit (`runtime.bus.nats_handling` says how a failure is
isolated). One bad message never stops the consumer. Pull requests lost with a server
restart are re-issued when nothing has come back for longer than a request lives.

A consumer with a `linger` pulls on a tick instead: every `linger` seconds it asks for
what is waiting, and the server sends it at once and ends the request (`no_wait`), so
the messages of a tick arrive together and are handled in one unit of work. A standing
request would have the server deliver each message as it is published, one wake-up of
the server and of the service per message; the tick makes that one per tick. Until the
server says nothing more waits, the next request goes out as soon as the queue is low.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js import api

from runtime.bus.nats_handling import (
    HandlerClock,
    MessageHandling,
    Observer,
    SpanFactory,
    backoff_delay,
    nak_payload,
)
from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription
    from nats.js import JetStreamContext

    from runtime.bus.base import BatchScope, BoundSubscription

__all__ = ["ConsumerRunner", "backoff_delay"]

log = logging.getLogger(__name__)

STATUS = "Status"
PENDING_MESSAGES = "Nats-Pending-Messages"


class ConsumerRunner:
    """Runs the bound subscriptions of one service until `stop()`.

    `batch` is how many messages one pull request asks for; `fetch_timeout` how long a pull
    request waits on the server (and, with a margin, how long silence lasts before the
    request is taken as lost, e.g. by a server restart, and issued again). `unit_of_work`,
    when given, lets a worker handle up to its policy's `batch` waiting messages in one unit
    (one database transaction); without it every message has its own.
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
        unit_of_work: BatchScope | None = None,
    ) -> None:
        self._observe = observe
        self._span = span
        self._unit_of_work = unit_of_work
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
        # Without a unit of work, messages are taken one at a time, so a stop hands back
        # every message no handler has started.
        self._handle_batch = max(1, policy.batch) if runner._unit_of_work is not None else 1
        self._tick = policy.linger if self._handle_batch > 1 else 0.0
        """Seconds between pulls of a lingering consumer (0: a standing pull request)."""
        request: dict[str, object] = {"batch": self._batch}
        if self._tick:
            request["no_wait"] = True
        else:
            request["expires"] = int(self._expires * 10**9)
        self._request = json.dumps(request).encode()
        self._inbox = self._nc.new_inbox()
        self._queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._sub: NatsSubscription | None = None
        self._handling = MessageHandling(
            self._nc,
            runner._service,
            bound,
            observe=runner._observe,
            span=runner._span,
            batch=runner._unit_of_work,
        )
        self._taking = asyncio.Lock()
        # Messages asked for and not yet received; arrivals (messages or statuses) so far.
        self._credits = 0
        self._arrivals = 0
        self._asked_at = 0.0
        # On a tick: whether the last request was used up with no status (more may wait).
        self._more = False
        self._stopping = False

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
        self._watchdog = asyncio.create_task(self._ticks() if self._tick else self._watch())

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
                await self._handling.settle(msg, self._handback)
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers)
        self._workers.clear()

    async def _pull(self) -> None:
        """Ask for another batch."""
        self._credits += self._batch
        self._more = False
        self._asked_at = asyncio.get_running_loop().time()
        await self._nc.publish(self._request_subject, self._request, reply=self._inbox)

    def _low(self) -> bool:
        """Whether the next request should go out now (not on a tick: the last one was
        used up, so more may wait)."""
        if self._stopping:
            return False
        if self._tick:
            return self._more and self._credits == 0 and self._queue.qsize() <= self._low_water
        return self._credits + self._queue.qsize() <= self._low_water

    async def _on_message(self, msg: Msg) -> None:
        self._arrivals += 1
        if msg.reply:
            if self._stopping:
                await self._handling.settle(msg, self._handback)
                return
            self._credits -= 1
            self._queue.put_nowait(msg)
            if self._tick and self._credits <= 0:
                self._credits, self._more = 0, True
        elif not self._on_status(msg):
            return  # the watchdog asks again once the silence has lasted a request's life
        elif self._tick:
            return  # the request ended with nothing more waiting: the next tick asks again
        if self._low():
            await self._pull()

    def _on_status(self, msg: Msg) -> bool:
        """A status from the server about one of our pull requests: may we pull again now?

        Not after an error such as 503 (no responders: the consumer has no leader while a
        cluster elects one). Its answer comes at once, so asking again at once would spin,
        thousands of requests and warnings a second on every consumer of every service,
        taking the CPU the cluster needs to recover.
        """
        headers = msg.headers or {}
        status = headers.get(STATUS, "")
        if status == "100":  # idle heartbeat
            return True
        pending = headers.get(PENDING_MESSAGES)
        if pending is not None and pending.isdigit():
            # 408: a request expired with this many messages undelivered.
            self._credits = max(0, self._credits - int(pending))
            return True
        # A status that does not say how much it cancels: start the count again.
        self._credits = 0
        if status in ("404", "408"):
            return True
        log.warning(
            "pull on %s: status %s %s",
            self._bound.subscription.durable,
            status,
            headers.get("Description", ""),
        )
        return False

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

    async def _ticks(self) -> None:
        """Pull every tick while no request is open and the queue is low.

        A request the server never answered (lost with a restart) is forgotten once nothing
        has come back for longer than a standing request would live.
        """
        loop = asyncio.get_running_loop()
        seen = self._arrivals
        while True:
            await asyncio.sleep(self._tick)
            if self._arrivals != seen:
                seen = self._arrivals
            elif self._credits and loop.time() - self._asked_at > self._expires * 1.5:
                self._credits = 0
            if self._credits or self._queue.qsize() > self._low_water:
                continue
            try:
                await self._pull()
            except NatsError:
                log.exception("pull on %s failed", self._bound.subscription.durable)

    async def _work(self) -> None:
        clock = HandlerClock(self._handling.ack_wait)
        try:
            while True:
                async with self._taking:  # one worker takes at a time; the others handle
                    taken = await self._take()
                if taken is None:
                    return
                if not self._stopping:
                    await self._handling.process(taken, clock)
                    if self._low():
                        try:
                            await self._pull()
                        except NatsError:
                            log.exception("pull on %s failed", self._bound.subscription.durable)
                else:
                    for msg in taken:
                        await self._handling.settle(msg, self._handback)
        finally:
            clock.close()

    async def _take(self) -> list[Msg] | None:
        """The next message and those behind it, up to the policy's `batch`; None to stop.

        A lingering consumer's messages come a tick at a time: a worker takes those that
        arrived together. A stop marker met while taking goes back to the queue for the
        next worker.
        """
        queue = self._queue
        first = await queue.get()
        if first is None:
            return None
        taken = [first]
        while len(taken) < self._handle_batch and not queue.empty():
            msg = queue.get_nowait()
            if msg is None:
                queue.put_nowait(None)
                break
            taken.append(msg)
        return taken
