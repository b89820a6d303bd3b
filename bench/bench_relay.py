"""The outbox relay's bus side: stored events published in batches and acknowledged.

Run `python bench/bench_relay.py [--n 6000]`. It starts an embedded nats-server (or uses
A4CO_NATS_URL) and publishes the same stored events (the OrderCreated contract example
with its 9 envelope headers) in batches of 1, 3 and 100, the sizes a relay hands over
(one handler's commit holds 1-4 events; a claim after a pause up to 100), two ways:

- baseline: what the relay did until issue 11's pipelined port, `js.publish` per event
  under `asyncio.gather` (nats-py's request per event: a future, a timer, header encoding);
- `JetStreamRawPublisher.publish_all`: the frames written one after the other, the acks
  matched on one wildcard inbox.

It prints events/s and this process's CPU-µs per event (`time.process_time`), and the
ratios. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import nats
import yaml
from nats.aio.client import Client

from a4co.infra import start_nats
from generated.order.events import ORDER_CREATED
from generated.order.models import OrderCreated
from runtime.bus import StreamSpec
from runtime.bus.envelope import MSG_ID, build_headers
from runtime.bus.nats import ensure_streams
from runtime.outbox import RawMessage
from runtime.service.jetstream import JetStreamRawPublisher

ROOT = Path(__file__).resolve().parent.parent
STREAM = StreamSpec(name="ORDER", subjects=("order.>",), max_age=3600.0)


def stored_events(n: int) -> list[RawMessage]:
    """`n` events as the relay reads them: payload bytes and stored headers."""
    doc = yaml.safe_load((ROOT / "contracts/asyncapi/order.yaml").read_text())
    payload = OrderCreated.model_validate(
        doc["components"]["messages"]["OrderCreated"]["examples"][0]["payload"]
    ).model_dump_json(exclude_none=True)
    out = []
    for _ in range(n):
        event_id = str(uuid.uuid4())
        headers = build_headers(ORDER_CREATED, aggregate_id="order-1", message_id=event_id)
        out.append(RawMessage(ORDER_CREATED.subject, payload.encode(), headers, event_id))
    return out


async def gathered(nc: Client) -> Callable[[Sequence[RawMessage]], Awaitable[object]]:
    """The baseline: one awaited `js.publish` per event, gathered."""
    js = nc.jetstream(timeout=5.0)

    async def publish(batch: Sequence[RawMessage]) -> object:
        return await asyncio.gather(
            *(
                js.publish(m.subject, m.payload, headers={**m.headers, MSG_ID: m.message_id})
                for m in batch
            ),
            return_exceptions=True,
        )

    return publish


async def pipelined(nc: Client) -> Callable[[Sequence[RawMessage]], Awaitable[object]]:
    """`JetStreamRawPublisher.publish_all`."""
    return JetStreamRawPublisher(nc).publish_all


async def reset(nc: Client) -> None:
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(STREAM.name)
    await ensure_streams(js, (STREAM,))


async def run(
    nc: Client,
    make: Callable[[Client], Awaitable[Callable[..., Awaitable[object]]]],
    events: list[RawMessage],
    size: int,
) -> tuple[float, float]:
    """Events/s and CPU-µs per event of publishing `events` in batches of `size`."""
    await reset(nc)
    publish = await make(nc)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), size):
        await publish(events[start : start + size])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(events) / wall, cpu / len(events) * 1e6


async def main(url: str, n: int) -> None:
    nc = await nats.connect(url)
    print(f"\nN = {n} stored OrderCreated events per case, one process\n")
    print(
        f"| batch | {'baseline ev/s':>13} | {'µs/ev':>6} | {'pipelined ev/s':>14} | {'µs/ev':>6} "
        f"| {'speed':>6} | {'CPU':>6} |"
    )
    print(f"|------:|{'-' * 15}|{'-' * 8}|{'-' * 16}|{'-' * 8}|{'-' * 8}|{'-' * 8}|")
    for size in (1, 3, 100):
        base = await run(nc, gathered, stored_events(n), size)
        ours = await run(nc, pipelined, stored_events(n), size)
        print(
            f"| {size:>5} | {base[0]:>13,.0f} | {base[1]:>6.1f} | {ours[0]:>14,.0f} |"
            f" {ours[1]:>6.1f} | {ours[0] / base[0]:>5.2f}x | {ours[1] / base[1]:>5.2f}x |"
        )
    print(
        "\nspeed: pipelined events/s over the baseline's; CPU: pipelined CPU-µs over the baseline's"
    )
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=6000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="a4co-bench-") as tmp:
        server = start_nats(Path(tmp))
        try:
            asyncio.run(main(server.url, args.n))
        finally:
            server.stop()
