"""Listing the newest dead letters of a long DLQ: A4CO's backward read against a forward scan.

Run `python bench/bench_dlq.py [--letters 10000]`. It starts an embedded nats-server (or
uses A4CO_NATS_URL), dead-letters `--letters` messages for two services of its own (one
letter in ten for the first, the rest for the second), then times the newest 100:
`list_dead_letters`, and as the baseline a forward scan of the whole DLQ with raw nats-py
`get_msg(next=True)` (what the admin service did before, then sorted). Prints a table;
asserts nothing. Its letters are purged at the end, so an external DLQ is left as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from a4co.infra import start_nats
from runtime.bus.dlq import dead_letter, list_dead_letters
from runtime.bus.nats import ensure_streams
from runtime.bus.nats_publisher import DLQ_STREAM

NEWEST = 100


async def forward_scan(js: JetStreamContext, subject: str) -> list[int]:
    """Every letter on `subject`, oldest first, one request each; then the newest 100."""
    sequences, sequence = [], 1
    while True:
        try:
            raw = await js.get_msg(DLQ_STREAM, seq=sequence, subject=subject, next=True)
        except NotFoundError:
            break
        sequences.append(raw.seq or 0)
        sequence = (raw.seq or sequence) + 1
    return sorted(sequences, reverse=True)[:NEWEST]


async def main(url: str, letters: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js, ())
    run = uuid.uuid4().hex[:8]
    few, many = f"benchfew{run}", f"benchmany{run}"
    began = time.perf_counter()
    for n in range(letters):
        service = few if n % 10 == 0 else many
        await dead_letter(
            js,
            service=service,
            durable=f"{service}-on-x",
            stream="BENCH",
            message=("bench.x.v1", n + 1, json.dumps({"n": n}).encode(), None),
            error="planted by bench_dlq",
            attempts=1,
        )
    print(f"dead-lettered {letters} messages in {time.perf_counter() - began:.1f} s")
    header = f"newest {NEWEST} of"
    print(f"{header:<34} {'A4CO backward':>14} {'forward scan':>14} {'ratio':>7}")
    try:
        cases: tuple[tuple[str, str | None], ...] = (
            (f"one service ({letters // 10} letters)", few),
            ("the whole DLQ", None),
        )
        for label, whose in cases:
            subject = f"dlq.{whose}.>" if whose else "dlq.>"
            t0 = time.perf_counter()
            ours = await list_dead_letters(js, service=whose, limit=NEWEST)
            t1 = time.perf_counter()
            theirs = await forward_scan(js, subject)
            t2 = time.perf_counter()
            assert [x.sequence for x in ours] == theirs, "the two reads disagree"
            print(
                f"{label:<34} {(t1 - t0) * 1000:11.1f} ms {(t2 - t1) * 1000:11.1f} ms"
                f" {(t2 - t1) / (t1 - t0):6.1f}x"
            )
    finally:
        for service in (few, many):
            await js.purge_stream(DLQ_STREAM, subject=f"dlq.{service}.>")
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="a4co-bench-") as tmp:
        server = start_nats(Path(tmp))
        try:
            asyncio.run(main(server.url, args.letters))
        finally:
            server.stop()
