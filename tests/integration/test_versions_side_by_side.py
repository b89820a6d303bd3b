"""Two major versions of one event side by side, on a real nats-server.

The owner publishes both versions during a migration (`send_versions`), a consumer of the
new version reads the old subject too through a durable of its own and upcasts, and an
inbox keyed by the message id applies one logical event once: whether both copies arrive,
only the old one, or only the new one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID, uuid4

import nats
import pytest
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict

from runtime.bus import (
    Channel,
    ConsumerPolicy,
    MessageContext,
    StreamSpec,
    Subscription,
    bind_handlers,
)
from runtime.bus.nats import ConsumerRunner, NatsEventSink, ensure_streams, list_dead_letters
from runtime.eventstore.memory import MemoryEventStore
from runtime.upcasting import OlderCopy, Upcasting, VersionStep, copy_id, send_versions
from tests.e2e.harness import eventually

POLICY = ConsumerPolicy(max_deliver=3, ack_wait=5.0, backoff=(0.05, 0.1), concurrency=2)


class RevokedV1(BaseModel):
    """Version 1: four reasons."""

    model_config = ConfigDict(extra="forbid")
    session_id: UUID
    reason: Literal["logout", "admin"]


class RevokedV2(BaseModel):
    """Version 2: one more reason, which version 1 has no word for."""

    model_config = ConfigDict(extra="forbid")
    session_id: UUID
    reason: Literal["logout", "admin", "refresh_token_reused"]


def downcast(payload: dict[str, Any]) -> dict[str, Any]:
    """What the owner writes: a reused refresh token reads as an admin revocation in v1."""
    reason = "admin" if payload["reason"] == "refresh_token_reused" else payload["reason"]
    return {**payload, "reason": reason}


@dataclass
class Versions:
    """The test's two channels, steps and subscriptions, on a stream of its own."""

    nc: Client
    uid: str
    store: MemoryEventStore = field(default_factory=MemoryEventStore)
    applied: list[tuple[str, RevokedV2, MessageContext]] = field(default_factory=list)
    calls: int = 0

    @property
    def v1(self) -> Channel[RevokedV1]:
        return Channel(f"t{self.uid}.revoked.v1", "Revoked", RevokedV1, "event", "auth")

    @property
    def v2(self) -> Channel[RevokedV2]:
        return Channel(f"t{self.uid}.revoked.v2", "Revoked", RevokedV2, "event", "auth")

    def up(self) -> VersionStep:
        return VersionStep(self.v1.subject, self.v2.subject, convert=dict)

    def down(self) -> VersionStep:
        return VersionStep(self.v2.subject, self.v1.subject, convert=downcast)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The consumer's durable on v2 and its durable on v1, one handler for both."""
        common: dict[str, Any] = dict(
            stream=f"T{self.uid}",
            handler="on_revoked",
            operation="receiveRevoked",
            policy=POLICY,
        )
        return (
            Subscription(channel=self.v2, durable=f"gw{self.uid}_on_revoked_v2", **common),
            Subscription(
                channel=self.v1,
                durable=f"gw{self.uid}_on_revoked",
                upcasting=Upcasting((self.up(),), self.v2),
                **common,
            ),
        )

    async def on_revoked(self, message: RevokedV2, context: MessageContext) -> None:
        """Apply the event once per id, as a service's inbox does."""
        self.calls += 1
        async with self.store.transaction() as tx:
            if await tx.seen(context.id, "gateway.on_revoked"):
                return
            self.applied.append((context.id, message, context))


@pytest.fixture
async def versions(nats_url: str, unique_id: str) -> AsyncIterator[Versions]:
    nc = await nats.connect(nats_url)
    spec = StreamSpec(name=f"T{unique_id}", subjects=(f"t{unique_id}.>",), max_age=600.0)
    await ensure_streams(nc.jetstream(), (spec,))
    yield Versions(nc=nc, uid=unique_id)
    await nc.jetstream().delete_stream(f"T{unique_id}")
    await nc.close()


async def consume(versions: Versions, deliveries: int) -> None:
    """Run both durables until `deliveries` messages were handled and every one is acked."""
    subs = versions.subscriptions()
    js = versions.nc.jetstream()

    async def settled() -> bool:
        for sub in subs:
            info = await js.consumer_info(sub.stream, sub.durable)
            if info.num_ack_pending or info.num_pending:
                return False
        return versions.calls == deliveries

    service = f"gw{versions.uid}"
    runner = ConsumerRunner(
        versions.nc, service, bind_handlers(service, versions, subs), fetch_timeout=0.2
    )
    await runner.start()
    try:
        await eventually(settled)
    finally:
        await runner.stop()
    assert await list_dead_letters(js, service=service) == []


async def test_both_copies_published_are_applied_once(versions: Versions) -> None:
    sid = uuid4()
    sent = RevokedV2(session_id=sid, reason="refresh_token_reused")
    base = str(uuid4())

    newest_id = await send_versions(
        NatsEventSink(versions.nc),
        versions.v2,
        sent,
        older=(OlderCopy(versions.v1, (versions.down(),)),),
        aggregate_id=str(sid),
        message_id=base,
    )
    await consume(versions, deliveries=2)

    assert newest_id == copy_id(base, versions.v2.subject)
    assert [(i, m) for i, m, _ in versions.applied] == [(newest_id, sent)]
    v1 = await versions.nc.jetstream().get_last_msg(f"T{versions.uid}", versions.v1.subject)
    assert RevokedV1.model_validate_json(v1.data).reason == "admin"
    assert v1.headers is not None and v1.headers["ce-id"] == base


async def test_only_the_old_version_is_applied_once_upcast(versions: Versions) -> None:
    sid = uuid4()
    old_id = await NatsEventSink(versions.nc).send(
        versions.v1, RevokedV1(session_id=sid, reason="logout"), aggregate_id=str(sid)
    )

    await consume(versions, deliveries=1)

    ((applied_id, message, context),) = versions.applied
    assert message == RevokedV2(session_id=sid, reason="logout")
    assert applied_id == copy_id(old_id, versions.v2.subject)
    assert context.type == versions.v2.ce_type
    assert context.bus_subject == versions.v1.subject


async def test_only_the_new_version_is_applied_once(versions: Versions) -> None:
    sid = uuid4()
    sent = RevokedV2(session_id=sid, reason="refresh_token_reused")
    new_id = await NatsEventSink(versions.nc).send(versions.v2, sent, aggregate_id=str(sid))

    await consume(versions, deliveries=1)

    assert [(i, m) for i, m, _ in versions.applied] == [(new_id, sent)]


async def test_a_consumer_whose_upcast_is_missing_does_not_start(versions: Versions) -> None:
    hook = VersionStep(versions.v1.subject, versions.v2.subject, hook="services.nowhere:up")
    sub = Subscription(
        channel=versions.v1,
        stream=f"T{versions.uid}",
        durable=f"gw{versions.uid}_on_revoked",
        handler="on_revoked",
        operation="receiveRevoked",
        upcasting=Upcasting((hook,), versions.v2),
    )
    with pytest.raises(Exception, match=rf"t{versions.uid}\.revoked\.v1 -> .*services.nowhere"):
        bind_handlers("gw", versions, (sub,))
