"""The fault tests' platform: the saga services on a three-node NATS cluster, supervised.

Also the stream leadership moves the faults need: one node made leader of several streams,
and a leader asked to step down.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.errors import Error as NatsError

from a4co.launcher import Platform
from a4co.launcher.supervisor import RestartPolicy, Supervisor
from tests.e2e.story import Story

STEPDOWN = "$JS.API.STREAM.LEADER.STEPDOWN.{stream}"


class Supervision:
    """`a4co up`'s supervision of a platform, as a task of the test's loop."""

    def __init__(self, platform: Platform) -> None:
        self.lines: list[tuple[float, str]] = []
        """What the supervisor said, with the wall clock of each line."""
        self._supervisor = Supervisor(
            platform,
            say=lambda line: self.lines.append((time.time(), line)),
            policy=RestartPolicy(first_delay=0.5),
        )
        self._running = True
        self._task = asyncio.create_task(self._watch())

    def restarts(self, name: str) -> int:
        """How many times the service was started again."""
        return self._supervisor.restarts(name)

    async def _watch(self) -> None:
        while self._running:
            await asyncio.to_thread(self._supervisor.step)
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop watching; waits for a restart under way (a thread cannot be cancelled)."""
        self._running = False
        await self._task


@dataclass
class Chaos:
    """A started platform, a story on it, the operator's bus connection and the supervision."""

    platform: Platform
    story: Story
    nc: Client
    supervision: Supervision


async def leaders(nc: Client, streams: Iterable[str]) -> dict[str, str | None]:
    """Stream -> the server that leads it now (None while it has no leader)."""
    js = nc.jetstream()
    found: dict[str, str | None] = {}
    for stream in streams:
        try:
            info = await js.stream_info(stream)
        except (NatsError, TimeoutError):
            found[stream] = None
            continue
        found[stream] = info.cluster.leader if info.cluster is not None else None
    return found


async def step_down(nc: Client, stream: str, preferred: str | None = None) -> None:
    """Ask the stream's leader to step down, for `preferred` if given; fail on a refusal."""
    body = json.dumps({"placement": {"preferred": preferred}}).encode() if preferred else b""
    reply = await nc.request(STEPDOWN.format(stream=stream), body, timeout=10)
    answer = json.loads(reply.data)
    assert answer.get("success"), f"stepdown of {stream} refused: {answer}"


async def lead_all(nc: Client, streams: tuple[str, ...], *, timeout: float = 60.0) -> str:
    """Make one node lead every stream of `streams` (the one leading most already); name it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    current = await leaders(nc, streams)
    counts: dict[str, int] = {}
    for leader in current.values():
        if leader is not None:
            counts[leader] = counts.get(leader, 0) + 1
    target = max(sorted(counts), key=lambda node: counts[node])
    while True:
        current = await leaders(nc, streams)
        if all(leader == target for leader in current.values()):
            return target
        assert loop.time() < deadline, f"{target} did not come to lead {streams}: {current}"
        for stream, leader in current.items():
            if leader is not None and leader != target:
                await step_down(nc, stream, preferred=target)
        await asyncio.sleep(1.0)


async def replicas_current(nc: Client, streams: Iterable[str], size: int) -> bool:
    """Whether each stream has a leader and `size - 1` followers that are current."""
    js = nc.jetstream()
    for stream in streams:
        try:
            info = await js.stream_info(stream)
        except (NatsError, TimeoutError):
            return False
        cluster = info.cluster
        if cluster is None or cluster.leader is None:
            return False
        followers = [peer for peer in cluster.replicas or [] if peer.current and not peer.offline]
        if len(followers) != size - 1:
            return False
    return True
