"""Bus throughput: the A4CO NATS backend against raw nats-py and FastStream, on one server.

Run `python bench/bench_bus.py [--n 20000]`. It starts an embedded nats-server (or uses
A4CO_NATS_URL), publishes the OrderCreated contract example, and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import yaml
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from a4co.infra import start_nats
from generated.order.events import ORDER_CREATED, Publisher
from generated.order.models import OrderCreated
from runtime.bus import ConsumerPolicy, MessageContext, StreamSpec, Subscription, bind_handlers
from runtime.bus.nats import ConsumerRunner, NatsEventSink, ensure_streams

ROOT = Path(__file__).resolve().parent.parent
STREAM = StreamSpec(name="ORDER", subjects=("order.>",), max_age=3600.0)
SUBJECT = ORDER_CREATED.subject
WINDOW = 2000
BATCH = 256


def example() -> OrderCreated:
    """The first example of OrderCreated in the order service's contract."""
    doc = yaml.safe_load((ROOT / "contracts/asyncapi/order.yaml").read_text())
    return OrderCreated.model_validate(
        doc["components"]["messages"]["OrderCreated"]["examples"][0]["payload"]
    )


async def reset(nc: Client) -> None:
    """An empty ORDER stream and the DLQ stream."""
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(STREAM.name)
    await ensure_streams(js, (STREAM,))


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    """Seconds taken by `action`."""
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def publish_typed(nc: Client, payload: OrderCreated, n: int) -> None:
    """The generated Publisher on NatsEventSink's pipeline."""
    async with NatsEventSink(nc).pipeline(window=WINDOW) as sink:
        publisher = Publisher(sink)
        for i in range(n):
            await publisher.order_created(payload, aggregate_id=str(i))


async def publish_raw(nc: Client, payload: OrderCreated, n: int, *, envelope: bool = False) -> None:
    """Raw nats-py: the same bytes, Nats-Msg-Id, acks on one wildcard inbox, same window.

    With `envelope`, each message also carries the 7 other envelope headers, built inline.
    """
    prefix = nc.new_inbox()
    acked = 0
    room = asyncio.Event()
    done = asyncio.Event()

    async def on_ack(msg: Msg) -> None:
        nonlocal acked
        acked += 1
        room.set()
        if acked == n:
            done.set()

    sub = await nc.subscribe(f"{prefix}.*", cb=on_ack)
    for i in range(n):
        while i - acked >= WINDOW:
            room.clear()
            await room.wait()
        data = payload.model_dump_json().encode()
        msg_id = str(uuid.uuid4())
        headers = {"Nats-Msg-Id": msg_id}
        if envelope:
            headers |= {
                "ce-id": msg_id,
                "ce-type": "a4co.order.created.v1",
                "ce-source": "/services/order",
                "ce-time": datetime.now(UTC).isoformat(),
                "ce-subject": str(i),
                "ce-specversion": "1.0",
                "correlation-id": msg_id,
            }
        await nc.publish(SUBJECT, data, reply=f"{prefix}.{i}", headers=headers)
    await asyncio.wait_for(done.wait(), 60)
    await sub.unsubscribe()


async def consume_runner(nc: Client, n: int) -> float:
    """ConsumerRunner: pull, envelope, validate once, handler, ack; seconds to the last call."""
    handled = 0
    done = asyncio.Event()

    class Handlers:
        async def on_order_created(self, payload: OrderCreated, context: MessageContext) -> None:
            nonlocal handled
            handled += 1
            if handled == n:
                done.set()

    sub = Subscription(
        channel=ORDER_CREATED,
        stream=STREAM.name,
        durable="bench-runner",
        handler="on_order_created",
        operation="receiveOrderCreated",
        policy=ConsumerPolicy(max_ack_pending=10_000, concurrency=64),
    )
    runner = ConsumerRunner(nc, "bench", bind_handlers("bench", Handlers(), (sub,)), batch=BATCH)
    start = time.perf_counter()
    await runner.start()
    await asyncio.wait_for(done.wait(), 120)
    seconds = time.perf_counter() - start
    await runner.stop()  # not timed (it is quick: it waits only for in-flight handlers)
    return seconds


async def consume_raw(nc: Client, n: int) -> None:
    """Raw nats-py: pull fetch in batches, validate once, ack."""
    js = nc.jetstream()
    config = api.ConsumerConfig(
        durable_name="bench-raw",
        ack_policy=api.AckPolicy.EXPLICIT,
        max_ack_pending=10_000,
        filter_subject=SUBJECT,
    )
    psub = await js.pull_subscribe(SUBJECT, durable="bench-raw", stream=STREAM.name, config=config)
    handled = 0
    while handled < n:
        for msg in await psub.fetch(BATCH, timeout=5):
            OrderCreated.model_validate_json(msg.data)
            await msg.ack()
            handled += 1
    await psub.unsubscribe()


async def faststream_rows(url: str, payload: OrderCreated, n: int) -> list[tuple[str, float]]:
    """FastStream 0.7 NATS broker: per-message JetStream publish and subscriber."""
    from faststream.nats import JStream, NatsBroker

    broker = NatsBroker(url, logger=None)
    stream = JStream(name=STREAM.name, subjects=list(STREAM.subjects), declare=False)
    received = 0
    done = asyncio.Event()

    @broker.subscriber(SUBJECT, stream=stream, durable="bench-faststream")
    async def on_order_created(body: OrderCreated) -> None:
        nonlocal received
        received += 1
        if received == n:
            done.set()

    publisher = NatsBroker(url, logger=None)
    await publisher.start()
    seconds = await timed(lambda: _faststream_publish(publisher, payload, n))
    await publisher.stop()
    start = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(done.wait(), 120)
    consume = time.perf_counter() - start
    await broker.stop()
    return [("faststream publish (gathered)", n / seconds), ("faststream subscriber", n / consume)]


async def _faststream_publish(broker: Any, payload: OrderCreated, n: int) -> None:
    for start in range(0, n, WINDOW):
        batch = range(start, min(n, start + WINDOW))
        await asyncio.gather(*(broker.publish(payload, SUBJECT, stream=STREAM.name) for _ in batch))


async def main(url: str, n: int) -> None:
    """Run every case once on a fresh stream and print events per second."""
    payload = example()
    nc = await nats.connect(url)
    rows: list[tuple[str, float]] = []
    await reset(nc)
    raw_publish = n / await timed(lambda: publish_raw(nc, payload, n))
    await reset(nc)
    with_headers = n / await timed(lambda: publish_raw(nc, payload, n, envelope=True))
    # The typed run leaves n enveloped messages, which both consumers then read.
    await reset(nc)
    typed_publish = n / await timed(lambda: publish_typed(nc, payload, n))
    rows.append(("a4co typed publisher (pipelined)", typed_publish))
    rows.append(("raw nats-py publish (pipelined)", raw_publish))
    rows.append(("raw nats-py + same 8 headers", with_headers))
    rows.append(("a4co ConsumerRunner", n / await consume_runner(nc, n)))
    rows.append(("raw nats-py pull fetch", n / await timed(lambda: consume_raw(nc, n))))
    await reset(nc)
    rows.extend(await faststream_rows(url, payload, n))
    await nc.close()
    raw = {"publish": raw_publish, "consume": rows[4][1]}
    print(f"\nN = {n} OrderCreated events ({len(payload.model_dump_json())} bytes), one process\n")
    print(f"| {'case':<36} | {'msgs/s':>9} | {'vs raw':>6} |")
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 8}|")
    for name, rate in rows:
        base = raw["publish"] if "publish" in name or "headers" in name else raw["consume"]
        print(f"| {name:<36} | {rate:>9,.0f} | {rate / base:>5.2f}x |")
    rate = dict(rows)
    print("\nFloors (issue): typed publisher >= 0.7x raw publish; runner >= 0.7x raw pull fetch")
    print("and >= 2x FastStream's subscriber; typed publisher >= 2x FastStream's publish.")
    for name, ours, theirs in (
        (
            "typed publisher / raw publish",
            "a4co typed publisher (pipelined)",
            "raw nats-py publish (pipelined)",
        ),
        ("runner / raw pull fetch", "a4co ConsumerRunner", "raw nats-py pull fetch"),
        ("runner / FastStream subscriber", "a4co ConsumerRunner", "faststream subscriber"),
        (
            "typed publisher / FastStream publish",
            "a4co typed publisher (pipelined)",
            "faststream publish (gathered)",
        ),
    ):
        print(f"  {name:<38} {rate[ours] / rate[theirs]:5.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="a4co-bench-") as tmp:
        server = start_nats(Path(tmp))
        try:
            asyncio.run(main(server.url, args.n))
        finally:
            server.stop()
