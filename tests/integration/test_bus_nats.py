"""The NATS backend of the bus on a real embedded nats-server: publish, consume, retry, DLQ."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict

from a4co.infra import EmbeddedNats
from runtime.bus import (
    Channel,
    ConsumerPolicy,
    MessageContext,
    StreamSpec,
    Subscription,
    bind_handlers,
)
from runtime.bus.envelope import build_headers, encode_headers, header_block, parse_context
from runtime.bus.failures import PermanentError, PublishError, TransientError
from runtime.bus.memory import InMemoryEventSink
from runtime.bus.nats import (
    ConsumerRunner,
    NatsEventSink,
    dead_letter,
    ensure_streams,
    list_dead_letters,
    redrive,
)
from runtime.errors import ConfigurationError, ContractError

FAST = ConsumerPolicy(max_deliver=3, ack_wait=5.0, backoff=(0.05, 0.1), concurrency=4)


class Ping(BaseModel):
    """A test message."""

    model_config = ConfigDict(extra="forbid")
    n: int
    note: str


@dataclass
class Bus:
    """One test's stream, channel and service names, all unique to the test."""

    nc: Client
    uid: str
    service: str
    channel: Channel[Ping]

    def subscription(self, policy: ConsumerPolicy = FAST) -> Subscription:
        """A subscription of the test's service to the test's channel."""
        return Subscription(
            channel=self.channel,
            stream=f"T{self.uid}",
            durable=f"{self.service}-on-ping",
            handler="on_ping",
            operation="receivePing",
            policy=policy,
        )


@dataclass
class Recorder:
    """Handlers that record calls, fail with `failures` in turn, then succeed."""

    failures: list[Exception] = field(default_factory=list)
    calls: list[tuple[Ping, MessageContext]] = field(default_factory=list)

    async def on_ping(self, payload: Ping, context: MessageContext) -> None:
        """Record, then raise the next planned failure if any."""
        self.calls.append((payload, context))
        if self.failures:
            raise self.failures.pop(0)


@pytest.fixture
async def bus(nats_url: str, unique_id: str) -> AsyncIterator[Bus]:
    """A connection and a stream of its own for the test."""
    nc = await nats.connect(nats_url)
    spec = StreamSpec(name=f"T{unique_id}", subjects=(f"t{unique_id}.>",), max_age=600.0)
    await ensure_streams(nc.jetstream(), (spec,))
    channel = Channel(
        subject=f"t{unique_id}.ping.v1", message="Ping", model=Ping, kind="event", owner="tester"
    )
    yield Bus(nc=nc, uid=unique_id, service=f"svc{unique_id}", channel=channel)
    await nc.jetstream().delete_stream(f"T{unique_id}")
    await nc.close()


async def eventually(
    condition: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0
) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def run(bus: Bus, handlers: object, policy: ConsumerPolicy = FAST) -> ConsumerRunner:
    """Start a consumer runner for the test's one subscription."""
    bound = bind_handlers(bus.service, handlers, (bus.subscription(policy),))
    runner = ConsumerRunner(bus.nc, bus.service, bound, fetch_timeout=0.2)
    await runner.start()
    return runner


async def test_published_message_reaches_handler_typed_with_its_envelope(bus: Bus) -> None:
    sink = NatsEventSink(bus.nc)
    recorder = Recorder()
    runner = await run(bus, recorder)
    cause = MessageContext(
        id="cause-1",
        type="a4co.x",
        source="/services/x",
        time=datetime.now(UTC),
        subject="agg",
        correlation_id="corr-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    message_id = await sink.send(
        bus.channel, Ping(n=1, note="hi"), aggregate_id="agg-9", cause=cause
    )
    await eventually(lambda: len(recorder.calls) == 1)
    await runner.stop()
    payload, context = recorder.calls[0]
    assert payload == Ping(n=1, note="hi")
    assert context.id == message_id
    assert context.type == f"a4co.t{bus.uid}.ping.v1"
    assert context.source == "/services/tester"
    assert context.subject == "agg-9"
    assert context.correlation_id == "corr-1"
    assert context.causation_id == "cause-1"
    assert context.traceparent == cause.traceparent
    assert context.bus_subject == bus.channel.subject
    assert context.stream_sequence == 1
    assert context.attempt == 1
    assert context.time.tzinfo is not None


async def test_same_message_id_is_stored_once(bus: Bus) -> None:
    sink = NatsEventSink(bus.nc)
    for _ in range(3):
        await sink.send(bus.channel, Ping(n=1, note="x"), aggregate_id="a", message_id="m-1")
    async with sink.pipeline(window=2) as batch:
        await batch.send(bus.channel, Ping(n=1, note="x"), aggregate_id="a", message_id="m-1")
        await batch.send(bus.channel, Ping(n=2, note="y"), aggregate_id="a", message_id="m-2")
    info = await bus.nc.jetstream().stream_info(f"T{bus.uid}")
    assert info.state.messages == 2


async def test_pipelined_sends_are_all_stored_and_a_missing_stream_is_an_error(bus: Bus) -> None:
    sink = NatsEventSink(bus.nc)
    async with sink.pipeline(window=16) as batch:
        for n in range(200):
            await batch.send(bus.channel, Ping(n=n, note="p"), aggregate_id=str(n))
    info = await bus.nc.jetstream().stream_info(f"T{bus.uid}")
    assert info.state.messages == 200
    nowhere = Channel(
        subject=f"nowhere{bus.uid}.x.v1", message="Ping", model=Ping, kind="event", owner="t"
    )
    with pytest.raises(PublishError):
        await sink.send(nowhere, Ping(n=0, note="lost"), aggregate_id="a")
    with pytest.raises(PublishError, match="no stream captures"):
        async with sink.pipeline(window=4) as batch:
            await batch.send(bus.channel, Ping(n=1, note="kept"), aggregate_id="a")
            await batch.send(nowhere, Ping(n=0, note="lost"), aggregate_id="a")


async def test_transient_failures_are_retried_until_the_handler_succeeds(bus: Bus) -> None:
    recorder = Recorder(failures=[TransientError("db down"), TransientError("db down")])
    runner = await run(bus, recorder)
    await NatsEventSink(bus.nc).send(bus.channel, Ping(n=7, note="r"), aggregate_id="a")
    await eventually(lambda: len(recorder.calls) == 3)
    await eventually(lambda: consumer_settled(bus))
    await runner.stop()
    assert [c.attempt for _, c in recorder.calls] == [1, 2, 3]
    assert await list_dead_letters(bus.nc.jetstream(), service=bus.service) == []


async def consumer_settled(bus: Bus) -> bool:
    """Whether the test's consumer has every message acked."""
    sub = bus.subscription()
    info = await bus.nc.jetstream().consumer_info(sub.stream, sub.durable)
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)


async def test_invalid_payload_is_dead_lettered_on_first_delivery(bus: Bus) -> None:
    recorder = Recorder()
    runner = await run(bus, recorder)
    headers = build_headers(bus.channel, aggregate_id="bad")
    await bus.nc.jetstream().publish(bus.channel.subject, b'{"n": "one"}', headers=headers)
    await NatsEventSink(bus.nc).send(bus.channel, Ping(n=2, note="ok"), aggregate_id="good")
    await eventually(lambda: len(recorder.calls) == 1)
    js = bus.nc.jetstream()
    letters: list[object] = []

    async def dead_lettered() -> bool:
        letters[:] = await list_dead_letters(js, service=bus.service)
        return len(letters) == 1

    await eventually(dead_lettered)
    await runner.stop()
    assert recorder.calls[0][0] == Ping(n=2, note="ok")
    letter = (await list_dead_letters(js, service=bus.service))[0]
    assert letter.attempts == 1
    assert letter.original_subject == bus.channel.subject
    assert letter.original_sequence == 1
    assert letter.consumer == bus.subscription().durable
    assert "ValidationError" in letter.error and "note" in letter.error
    assert json.loads(letter.payload) == {"n": "one"}


async def test_message_without_envelope_is_dead_lettered(bus: Bus) -> None:
    runner = await run(bus, Recorder())
    await bus.nc.jetstream().publish(bus.channel.subject, b'{"n": 1, "note": "x"}')
    js = bus.nc.jetstream()

    async def dead_lettered() -> bool:
        return len(await list_dead_letters(js, service=bus.service)) == 1

    await eventually(dead_lettered)
    await runner.stop()
    letter = (await list_dead_letters(js, service=bus.service))[0]
    assert "ContractError" in letter.error and "ce-id" in letter.error


async def test_dead_letters_are_listed_newest_first_past_other_services_letters(
    bus: Bus,
) -> None:
    js = bus.nc.jetstream()
    other = f"other{bus.uid}"

    async def fail(service: str, n: int) -> None:
        await dead_letter(
            js,
            service=service,
            durable=f"{service}-on-ping",
            stream=f"T{bus.uid}",
            message=(bus.channel.subject, n, json.dumps({"n": n}).encode(), None),
            error=f"failure {n}",
            attempts=1,
        )

    for n in range(1, 6):  # five old letters of the test's service
        await fail(bus.service, n)
    for n in range(6, 306):  # many of another service after them
        await fail(other, n)
    for n in range(306, 309):  # three new ones
        await fail(bus.service, n)

    newest = await list_dead_letters(js, service=bus.service, limit=4)
    every_one = await list_dead_letters(js, service=bus.service, limit=100)
    across = await list_dead_letters(js, limit=50)

    assert [x.original_sequence for x in newest] == [308, 307, 306, 5]
    assert [x.original_sequence for x in every_one] == [308, 307, 306, 5, 4, 3, 2, 1]
    assert [x.error for x in newest[:2]] == ["failure 308", "failure 307"]
    ours = [x.original_sequence for x in across if x.consumer.endswith(f"{bus.uid}-on-ping")]
    assert ours[:5] == [308, 307, 306, 305, 304]
    assert await list_dead_letters(js, service=f"nobody{bus.uid}") == []


async def test_permanent_error_is_dead_lettered_without_retry(bus: Bus) -> None:
    recorder = Recorder(failures=[PermanentError("order already closed")])
    runner = await run(bus, recorder)
    await NatsEventSink(bus.nc).send(bus.channel, Ping(n=3, note="p"), aggregate_id="a")
    js = bus.nc.jetstream()

    async def dead_lettered() -> bool:
        return len(await list_dead_letters(js, service=bus.service)) == 1

    await eventually(dead_lettered)
    await runner.stop()
    assert len(recorder.calls) == 1
    letter = (await list_dead_letters(js, service=bus.service))[0]
    assert letter.error == "PermanentError: order already closed"


async def test_exhausted_deliveries_go_to_dlq_and_redrive_reaches_fixed_handler(bus: Bus) -> None:
    broken = Recorder(failures=[RuntimeError(f"bug {i}") for i in range(3)])
    runner = await run(bus, broken)
    message_id = await NatsEventSink(bus.nc).send(
        bus.channel, Ping(n=4, note="d"), aggregate_id="a"
    )
    js = bus.nc.jetstream()

    async def dead_lettered() -> bool:
        return len(await list_dead_letters(js, service=bus.service)) == 1

    await eventually(dead_lettered)
    await runner.stop()
    assert len(broken.calls) == 3
    letter = (await list_dead_letters(js, service=bus.service))[0]
    assert letter.attempts == 3
    assert letter.error == "RuntimeError: bug 2"

    fixed = Recorder()
    runner = await run(bus, fixed)
    await redrive(js, letter.sequence)
    await eventually(lambda: len(fixed.calls) == 1)
    await runner.stop()
    payload, context = fixed.calls[0]
    assert payload == Ping(n=4, note="d")
    assert context.id == message_id
    assert context.correlation_id == message_id
    assert context.attempt == 1
    assert await list_dead_letters(js, service=bus.service) == []


async def test_stop_waits_for_in_flight_handlers(bus: Bus) -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    class Slow:
        async def on_ping(self, payload: Ping, context: MessageContext) -> None:
            started.set()
            await release.wait()
            finished.append(payload.n)

    runner = await run(bus, Slow())
    await NatsEventSink(bus.nc).send(bus.channel, Ping(n=5, note="s"), aggregate_id="a")
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == [5]
    assert await consumer_settled(bus)


def test_binding_fails_naming_the_missing_handler(unique_id: str) -> None:
    channel = Channel(subject="t.ping.v1", message="Ping", model=Ping, kind="event", owner="t")
    sub = Subscription(
        channel=channel, stream="T", durable="d", handler="on_ping", operation="receivePing"
    )
    with pytest.raises(ConfigurationError, match=r"on_ping \(receivePing\)"):
        bind_handlers(f"svc{unique_id}", object(), (sub,))


def test_headers_carry_the_envelope_and_parse_back() -> None:
    channel = Channel(subject="t.ping.v1", message="Ping", model=Ping, kind="event", owner="order")
    moment = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    headers = build_headers(channel, aggregate_id="agg", message_id="m-7", now=moment)
    assert headers == {
        "ce-id": "m-7",
        "Nats-Msg-Id": "m-7",
        "ce-type": "a4co.t.ping.v1",
        "ce-source": "/services/order",
        "ce-time": "2026-11-28T10:00:00Z",
        "ce-subject": "agg",
        "ce-specversion": "1.0",
        "correlation-id": "m-7",
    }
    context = parse_context(headers, bus_subject="t.ping.v1", stream_sequence=4, attempt=2)
    assert (context.id, context.time, context.stream_sequence, context.attempt) == (
        "m-7",
        moment,
        4,
        2,
    )
    with pytest.raises(ContractError, match="ce-subject"):
        parse_context({k: v for k, v in headers.items() if k != "ce-subject"})


class Backend:
    """One bus backend seen through the same three operations, for the shared tests."""

    def __init__(self, bus: Bus, kind: str) -> None:
        self.bus, self.kind = bus, kind
        self.memory = InMemoryEventSink()
        self.sink: NatsEventSink | InMemoryEventSink = (
            self.memory if kind == "memory" else NatsEventSink(bus.nc)
        )

    async def stored(self) -> int:
        """How many messages the backend holds."""
        if self.kind == "memory":
            return len(self.memory.messages)
        info = await self.bus.nc.jetstream().stream_info(f"T{self.bus.uid}")
        return int(info.state.messages)

    async def deliver(self, handlers: Recorder, expected: int) -> None:
        """Run `handlers` until they were called `expected` times."""
        bound = bind_handlers(self.bus.service, handlers, (self.bus.subscription(),))
        if self.kind == "memory":
            await self.memory.deliver(bound)
        else:
            runner = await run(self.bus, handlers)
            await eventually(lambda: len(handlers.calls) >= expected)
            await runner.stop()


@pytest.fixture(params=["nats", "memory"])
def backend(bus: Bus, request: pytest.FixtureRequest) -> Backend:
    """The NATS backend and its in-memory fake, so the fake stays honest."""
    return Backend(bus, request.param)


async def test_backend_stores_a_repeated_message_id_once(backend: Backend) -> None:
    channel = backend.bus.channel
    first = await backend.sink.send(channel, Ping(n=1, note="a"), aggregate_id="x", message_id="k")
    again = await backend.sink.send(channel, Ping(n=1, note="a"), aggregate_id="x", message_id="k")
    await backend.sink.send(channel, Ping(n=2, note="b"), aggregate_id="x")
    assert first == again == "k"
    assert await backend.stored() == 2


async def test_backend_hands_handlers_typed_payloads_in_order(backend: Backend) -> None:
    channel = backend.bus.channel
    ids = [
        await backend.sink.send(channel, Ping(n=n, note="o"), aggregate_id=f"agg-{n}")
        for n in range(3)
    ]
    recorder = Recorder()
    await backend.deliver(recorder, expected=3)
    assert [payload.n for payload, _ in recorder.calls] == [0, 1, 2]
    assert [context.id for _, context in recorder.calls] == ids
    assert [context.subject for _, context in recorder.calls] == ["agg-0", "agg-1", "agg-2"]
    assert [context.stream_sequence for _, context in recorder.calls] == [1, 2, 3]


def test_header_block_is_what_nats_py_would_write_for_build_headers() -> None:
    channel = Channel(subject="t.ping.v1", message="Ping", model=Ping, kind="event", owner="order")
    moment = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    cause = MessageContext(
        id=" cause-1 ",
        type="a4co.x",
        source="/services/x",
        time=moment,
        subject="agg",
        correlation_id="corr-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    for kwargs in (
        {"aggregate_id": "agg", "message_id": "m-7"},
        {"aggregate_id": " agg ", "message_id": "m-7", "cause": cause},
        {"aggregate_id": "a\r\nInjected: yes", "message_id": "m-7\n"},
    ):
        ce_id, block = header_block(channel, now=moment, **kwargs)  # type: ignore[arg-type]
        assert ce_id == kwargs["message_id"]
        assert block == encode_headers(build_headers(channel, now=moment, **kwargs))  # type: ignore[arg-type]
    assert not any(line.startswith(b"Injected") for line in block.split(b"\r\n"))
    ce_id, block = header_block(channel, aggregate_id="x")
    assert f"Nats-Msg-Id: {ce_id}\r\n".encode() in block
    with pytest.raises(ContractError):
        encode_headers({"bad name": "x"})


async def test_pipelined_headers_reach_the_consumer_as_sent(bus: Bus) -> None:
    recorder = Recorder()
    cause = MessageContext(
        id="cause-2",
        type="a4co.x",
        source="/services/x",
        time=datetime.now(UTC),
        subject="agg",
        correlation_id="corr-2",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    async with NatsEventSink(bus.nc).pipeline(window=4) as batch:
        first = await batch.send(bus.channel, Ping(n=1, note="é"), aggregate_id="agg-1")
        second = await batch.send(
            bus.channel, Ping(n=2, note="b"), aggregate_id="agg-2", cause=cause
        )
    runner = await run(bus, recorder)
    await eventually(lambda: len(recorder.calls) == 2)
    await runner.stop()
    (p1, c1), (p2, c2) = recorder.calls
    assert (p1, c1.id, c1.correlation_id, c1.subject) == (
        Ping(n=1, note="é"),
        first,
        first,
        "agg-1",
    )
    assert (p2, c2.id, c2.correlation_id, c2.causation_id) == (
        Ping(n=2, note="b"),
        second,
        "corr-2",
        "cause-2",
    )
    assert c2.traceparent == cause.traceparent


async def test_handler_running_past_ack_wait_is_cancelled_and_retried(bus: Bus) -> None:
    cancelled: list[int] = []

    class Stuck(Recorder):
        async def on_ping(self, payload: Ping, context: MessageContext) -> None:
            self.calls.append((payload, context))
            if context.attempt == 1:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    cancelled.append(context.attempt)
                    raise

    policy = ConsumerPolicy(max_deliver=3, ack_wait=0.5, backoff=(0.05,), concurrency=2)
    stuck = Stuck()
    runner = await run(bus, stuck, policy)
    await NatsEventSink(bus.nc).send(bus.channel, Ping(n=8, note="t"), aggregate_id="a")
    await eventually(lambda: len(stuck.calls) >= 2)
    await runner.stop()
    assert cancelled == [1]
    assert [c.attempt for _, c in stuck.calls][:2] == [1, 2]
    assert await list_dead_letters(bus.nc.jetstream(), service=bus.service) == []


async def test_stop_is_quick_and_hands_back_messages_not_yet_started(bus: Bus) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    class OneAtATime(Recorder):
        async def on_ping(self, payload: Ping, context: MessageContext) -> None:
            self.calls.append((payload, context))
            started.set()
            await release.wait()

    policy = ConsumerPolicy(max_deliver=5, ack_wait=30.0, backoff=(0.05,), concurrency=1)
    sink = NatsEventSink(bus.nc)
    for n in range(5):
        await sink.send(bus.channel, Ping(n=n, note="q"), aggregate_id=str(n))
    slow = OneAtATime()
    runner = await run(bus, slow, policy)
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.1)  # the other four arrive and wait in the queue
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(stopping, 2)
    assert [p.n for p, _ in slow.calls] == [0]
    # The four that waited were nak'ed, not left to ack_wait (30 s): they come back once the
    # pull request the stopped runner left open has expired (1.5 x its 1 s lifetime).
    rest = Recorder()
    runner = await run(bus, rest, policy)
    await eventually(lambda: len(rest.calls) == 4, timeout=5)
    await runner.stop()
    assert sorted(p.n for p, _ in rest.calls) == [1, 2, 3, 4]
    assert await consumer_settled(bus)


async def test_consumer_resumes_after_a_nats_restart(tmp_path: Path, unique_id: str) -> None:
    # Its own embedded server: the session's may be external (A4CO_NATS_URL), and a pull
    # request lost with a restart is what this checks, so it must really restart.
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        spec = StreamSpec(name=f"T{unique_id}", subjects=(f"t{unique_id}.>",), max_age=600.0)
        await ensure_streams(nc.jetstream(), (spec,))
        channel = Channel(
            subject=f"t{unique_id}.ping.v1", message="Ping", model=Ping, kind="event", owner="t"
        )
        bus = Bus(nc=nc, uid=unique_id, service=f"svc{unique_id}", channel=channel)
        recorder = Recorder()
        runner = await run(bus, recorder)
        sink = NatsEventSink(nc)
        await sink.send(channel, Ping(n=1, note="before"), aggregate_id="a")
        await eventually(lambda: len(recorder.calls) == 1)
        await asyncio.to_thread(server.restart)
        await eventually(lambda: nc.is_connected)
        await sink.send(channel, Ping(n=2, note="after"), aggregate_id="a")
        await eventually(lambda: len(recorder.calls) == 2)
        await asyncio.wait_for(runner.stop(), 5)
        assert [p.n for p, _ in recorder.calls] == [1, 2]
        await nc.close()
    finally:
        server.stop()
