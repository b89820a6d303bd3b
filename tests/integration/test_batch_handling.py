"""Handling waiting messages in one transaction, on real NATS and PostgreSQL.

The runner takes the messages queued for a consumer together and the service's unit of
work gives them one transaction, acked after its commit. These tests check what must
never change because of that: each message applied once, a poison message isolated, a
crash between the commit and the acks doubling nothing, and order kept per consumer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client

from runtime.bus import ConsumerPolicy, StreamSpec
from runtime.bus.envelope import build_headers
from runtime.bus.nats import NatsEventSink, ensure_streams, list_dead_letters
from runtime.service import ServiceContext
from tests.integration.batch_consumer import (
    POLICY,
    Names,
    Tick,
    Ticks,
    context_for,
    prepare,
    runner_for,
)

CHILD = Path(__file__).with_name("batch_consumer.py")


@dataclass
class Setup:
    """A test's connection, pool, names and service context."""

    nc: Client
    pool: asyncpg.Pool
    names: Names
    ctx: ServiceContext
    urls: tuple[str, str]

    async def publish(self, ticks: list[Tick]) -> None:
        """Publish `ticks` in order and wait until the stream holds them."""
        sink = NatsEventSink(self.nc)
        for tick in ticks:
            await sink.send(self.names.channel, tick, aggregate_id=tick.key)

    async def applied(self) -> list[tuple[int, str, int]]:
        """Every application recorded: (n, key, transaction id), in the order written."""
        rows = await self.pool.fetch(
            f'SELECT n, key, xid FROM "{self.names.schema}".applied ORDER BY id'
        )
        return [(r["n"], r["key"], r["xid"]) for r in rows]


@pytest.fixture
async def setup(nats_url: str, database_url: str, unique_id: str) -> AsyncIterator[Setup]:
    """A stream, a schema and a context of the test's own."""
    names = Names(unique_id)
    nc = await nats.connect(nats_url)
    spec = StreamSpec(name=names.stream, subjects=(f"b{unique_id}.>",), max_age=600.0)
    await ensure_streams(nc.jetstream(), (spec,))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=6)
    store = await prepare(pool, names)
    ctx = context_for(names, store, nc, (nats_url, database_url))
    yield Setup(nc, pool, names, ctx, (nats_url, database_url))
    await nc.jetstream().delete_stream(names.stream)
    await pool.execute(f'DROP SCHEMA "{names.schema}" CASCADE')
    await pool.close()
    await nc.close()


async def eventually_applied(setup: Setup, count: int, timeout: float = 60.0) -> None:
    """Wait until `count` applications are recorded; fail naming how many there were."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(await setup.applied()) < count:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{len(await setup.applied())} of {count} applied within {timeout} s")
        await asyncio.sleep(0.05)


async def settled(setup: Setup, timeout: float = 60.0) -> None:
    """Wait until the consumer has nothing pending and nothing unacked."""
    js = setup.nc.jetstream()
    sub = setup.names.subscription()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await js.consumer_info(sub.stream, sub.durable)
        if not info.num_pending and not info.num_ack_pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(
                f"consumer not settled: {info.num_pending} pending, {info.num_ack_pending} unacked"
            )
        await asyncio.sleep(0.05)


async def consume(
    setup: Setup, count: int, policy: ConsumerPolicy = POLICY, *, handlers: Ticks | None = None
) -> Ticks:
    """Run a consumer until `count` applications are recorded and it has settled."""
    handlers = handlers or Ticks(setup.ctx, setup.names.schema)
    runner = await runner_for(setup.nc, setup.ctx, handlers, setup.names, policy=policy)
    try:
        await eventually_applied(setup, count)
        await settled(setup)
    finally:
        await runner.stop()
    return handlers


def ticks(count: int, *, key: str = "k", poison: int | None = None) -> list[Tick]:
    return [Tick(n=n, key=key, poison=n == poison) for n in range(count)]


async def test_waiting_messages_share_a_transaction_and_each_applies_once(setup: Setup) -> None:
    await setup.publish(ticks(200))
    handlers = await consume(setup, 200)
    applied = await setup.applied()
    assert sorted(n for n, _, _ in applied) == list(range(200))
    transactions = {xid for _, _, xid in applied}
    assert len(transactions) < 200 / 4, f"{len(transactions)} transactions for 200 messages"
    assert sorted(handlers.pushed) == list(range(200)), "after-commit effects ran once each"


async def test_a_poison_message_mid_batch_goes_to_the_dlq_alone_and_the_rest_apply_once(
    setup: Setup,
) -> None:
    await setup.publish(ticks(60, poison=30))
    handlers = await consume(setup, 59)
    applied = sorted(n for n, _, _ in await setup.applied())
    assert applied == [n for n in range(60) if n != 30]
    letters = await list_dead_letters(setup.nc.jetstream(), service=setup.names.service)
    assert [d.original_subject for d in letters] == [setup.names.channel.subject]
    assert "tick 30 is poison" in letters[0].error
    assert letters[0].attempts == 1
    assert 30 not in handlers.pushed and sorted(handlers.pushed) == applied


async def test_a_forged_message_amid_a_batch_is_dead_lettered_before_any_handler(
    setup: Setup,
) -> None:
    # A valid envelope around a payload its contract forbids (a NUL-laden string where an
    # integer goes; its unknown field alone would be ignored), published between valid ones.
    await setup.publish(ticks(10))
    channel = setup.names.channel
    headers = build_headers(channel, aggregate_id="k")
    forged = rb'{"n": "\u0000", "key": "k", "admin": true}'
    await setup.nc.jetstream().publish(channel.subject, forged, headers=headers)
    await setup.publish([Tick(n=n, key="k") for n in range(10, 20)])
    await consume(setup, 20)
    assert sorted(n for n, _, _ in await setup.applied()) == list(range(20))
    (letter,) = await list_dead_letters(setup.nc.jetstream(), service=setup.names.service)
    assert letter.attempts == 1 and "ValidationError" in letter.error
    assert letter.payload == forged


async def test_a_copy_of_a_message_in_the_same_batch_is_applied_once(setup: Setup) -> None:
    # Two deliveries of one event (same ce-id) that JetStream could not dedupe, as after
    # a relay republishes past the duplicate window: both sit in the stream, side by side.
    channel = setup.names.channel
    ce_id = str(uuid.uuid4())
    for copy in range(2):
        headers = build_headers(channel, aggregate_id="k", message_id=ce_id)
        headers["Nats-Msg-Id"] = f"{ce_id}-{copy}"
        await setup.nc.jetstream().publish(
            channel.subject, Tick(n=7, key="k").model_dump_json().encode(), headers=headers
        )
    await setup.publish([Tick(n=8, key="k")])
    await consume(setup, 2)
    assert sorted(n for n, _, _ in await setup.applied()) == [7, 8]


async def test_one_worker_applies_a_keys_messages_in_stream_order(setup: Setup) -> None:
    # POLICY has concurrency 1: the order a handler relying on it sees is the stream's,
    # across and within batches.
    await setup.publish(ticks(150, key="a"))
    handlers = Ticks(setup.ctx, setup.names.schema)
    runner = await runner_for(setup.nc, setup.ctx, handlers, setup.names)
    try:
        await setup.publish([Tick(n=n, key="a") for n in range(150, 300)])
        await eventually_applied(setup, 300)
    finally:
        await runner.stop()
    assert [n for n, _, _ in await setup.applied()] == list(range(300))


async def test_a_consumer_without_batch_gives_each_message_its_own_transaction(
    setup: Setup,
) -> None:
    # The default policy (batch 1) is what saga steps use: they lock rows of several
    # products, and two batches locking them in different orders would deadlock.
    await setup.publish(ticks(30))
    await consume(setup, 30, policy=replace(POLICY, batch=1))
    assert len({xid for _, _, xid in await setup.applied()}) == 30


async def test_a_linger_gathers_messages_that_arrive_one_by_one(setup: Setup) -> None:
    policy = replace(POLICY, linger=0.5, concurrency=4)
    handlers = Ticks(setup.ctx, setup.names.schema)
    runner = await runner_for(setup.nc, setup.ctx, handlers, setup.names, policy=policy)
    try:
        for n in range(20):  # one at a time, each alone in the queue when it arrives
            await setup.publish([Tick(n=n, key="k")])
            await asyncio.sleep(0.01)
        await eventually_applied(setup, 20)
    finally:
        await runner.stop()
    applied = await setup.applied()
    assert sorted(n for n, _, _ in applied) == list(range(20))
    assert len({xid for _, _, xid in applied}) <= 5, "the linger gathered no batch"


async def test_a_lingering_consumer_leaves_no_pull_request_open_between_ticks(
    setup: Setup,
) -> None:
    js = setup.nc.jetstream()
    sub = setup.names.subscription()
    handlers = Ticks(setup.ctx, setup.names.schema)
    standing = await runner_for(setup.nc, setup.ctx, handlers, setup.names, policy=POLICY)
    try:
        await setup.publish(ticks(3))
        await eventually_applied(setup, 3)
        assert (await js.consumer_info(sub.stream, sub.durable)).num_waiting == 1
    finally:
        await standing.stop()

    policy = replace(POLICY, linger=3600.0)  # one pull at the start, then none for an hour
    ticking = await runner_for(setup.nc, setup.ctx, handlers, setup.names, policy=policy)
    try:
        await setup.publish([Tick(n=3, key="k")])
        await asyncio.sleep(0.5)  # time for a standing request to deliver it
        info = await js.consumer_info(sub.stream, sub.durable)
        assert info.num_waiting == 0, "a pull request stayed open between ticks"
        assert info.num_pending == 1, "delivered before its tick"
    finally:
        await ticking.stop()
    assert sorted(n for n, _, _ in await setup.applied()) == [0, 1, 2]


async def test_a_lingering_consumer_drains_a_backlog_without_waiting_for_ticks(
    setup: Setup,
) -> None:
    await setup.publish(ticks(90))
    # Ten messages a request, and an hour between ticks: only asking again as soon as a
    # request comes back full drains 90 messages.
    policy = replace(POLICY, linger=3600.0, max_ack_pending=10, batch=10)
    await consume(setup, 90, policy)
    applied = await setup.applied()
    assert sorted(n for n, _, _ in applied) == list(range(90))
    assert len({xid for _, _, xid in applied}) <= 18, "the ticks' messages were not batched"


async def test_kill_9_between_the_commit_and_the_acks_doubles_nothing(setup: Setup) -> None:
    await setup.publish(ticks(80))
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(CHILD), *setup.urls, setup.names.uid],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, f"the consumer was not killed: {child.stderr[-2000:]}"
    committed = int(child.stdout.split("committed ")[1].split()[0])
    assert committed >= 2, "the first unit of work held one message only"
    assert len(await setup.applied()) == committed, "the killed unit committed"
    # Nothing was acked: after ack_wait the server redelivers the committed messages too.
    await consume(setup, 80)
    assert sorted(n for n, _, _ in await setup.applied()) == list(range(80))
