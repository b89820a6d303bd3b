"""Attacks on the bus of a running platform: no anonymous client, each identity within its rights.

The saga's services run as processes on embedded servers of their own, as `a4co up` starts
them: nats-server with the users generated from the contracts. The intruder holds the order
service's credentials (as if it had taken that process) and tries what the issue's attacker
did with an open bus: forge a payment and a credentials change, delete a stream, read what
other services receive.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from a4co.launcher import Platform
from generated.bus_permissions import BUS_PERMISSIONS
from generated.payment.events import Publisher as PaymentPublisher
from generated.payment.models import PaymentSucceeded
from runtime.bus.dlq import dead_letter
from runtime.bus.failures import PublishError
from runtime.bus.nats_publisher import NatsEventSink
from tests.e2e.harness import TEST_KEY, embedded_env, eventually, serve_jwks
from tests.e2e.story import Story

pytestmark = pytest.mark.slow

SERVICES = ["user", "inventory", "payment", "order", "admin"]
WAIT = 20.0


class Intruder:
    """A NATS connection that records what the server refuses it."""

    def __init__(self, nc: Client, refusals: asyncio.Queue[str]) -> None:
        self.nc = nc
        self._refusals = refusals

    @classmethod
    async def connect(cls, url: str) -> Intruder:
        refusals: asyncio.Queue[str] = asyncio.Queue()

        async def on_error(exc: Exception) -> None:
            await refusals.put(str(exc))

        nc = await nats.connect(url, name="intruder", error_cb=on_error, allow_reconnect=False)
        return cls(nc, refusals)

    async def refused(self, subject: str) -> str:
        """Wait for the server's permissions violation naming `subject`; return it."""
        while True:
            refusal = await asyncio.wait_for(self._refusals.get(), timeout=WAIT)
            refusal = refusal.lower()  # nats-py lower-cases the server's -ERR text
            if "permissions violation" in refusal and subject.lower() in refusal:
                return refusal


@pytest.fixture(scope="module")
async def secured() -> AsyncIterator[tuple[Platform, Story]]:
    """The saga's services as processes on an authenticated bus."""
    with tempfile.TemporaryDirectory(prefix="a4co-sec-") as folder:
        async with serve_jwks() as jwks_url:
            platform = Platform(
                SERVICES,
                data_dir=Path(folder),
                env=embedded_env(jwks_url),
            )
            await asyncio.to_thread(platform.start)
            try:
                nc = await nats.connect(platform.bus_url("a4co"))
                story = Story(platform.urls, nc, platform.infra.database_url or "")
                yield platform, story
                await story.aclose()
                await nc.close()
            finally:
                await asyncio.to_thread(platform.stop)


@pytest.fixture
async def as_order(secured: tuple[Platform, Story]) -> AsyncIterator[Intruder]:
    """The intruder, with the order service's user and password."""
    intruder = await Intruder.connect(secured[0].bus_url("order"))
    yield intruder
    await intruder.nc.close()


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


async def test_an_anonymous_client_is_refused(secured: tuple[Platform, Story]) -> None:
    url = without_credentials(secured[0].bus_url("a4co"))

    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_wrong_password_is_refused(secured: tuple[Platform, Story]) -> None:
    host = urlsplit(secured[0].bus_url("order")).netloc.rsplit("@", 1)[-1]

    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(f"nats://order:guess@{host}", allow_reconnect=False)


@pytest.mark.parametrize(
    "subject", ["payment.succeeded.v1", "user.credentials_set.v1", "auth.session_revoked.v2"]
)
async def test_the_order_identity_cannot_announce_what_others_own(
    secured: tuple[Platform, Story], as_order: Intruder, subject: str
) -> None:
    forged = f"forged-{uuid.uuid4()}"

    await as_order.nc.publish(subject, b"{}", headers={"Nats-Msg-Id": forged, "ce-id": forged})
    await as_order.nc.flush()

    assert "publish" in (await as_order.refused(subject)).lower()
    stream = subject.split(".", 1)[0].upper()
    try:
        last = await secured[1].nc.jetstream().get_last_msg(stream, subject)
    except NotFoundError:
        return  # nothing was ever stored on that subject, the forgery included
    assert (last.headers or {}).get("Nats-Msg-Id") != forged


async def test_the_order_identity_cannot_delete_a_stream(
    secured: tuple[Platform, Story], as_order: Intruder
) -> None:
    with pytest.raises((NatsError, TimeoutError)):
        await as_order.nc.jetstream(timeout=2).delete_stream("PAYMENT")

    await as_order.refused("$JS.API.STREAM.DELETE.PAYMENT")
    info = await secured[1].nc.jetstream().stream_info("PAYMENT")
    assert info.config.name == "PAYMENT"


async def test_the_order_identity_cannot_read_what_others_receive(as_order: Intruder) -> None:
    payment = next(p for p in BUS_PERMISSIONS if p.identity == "payment")
    pull = next(s for s in payment.publish if s.startswith("$JS.API.CONSUMER.MSG.NEXT."))

    await as_order.nc.subscribe(">")
    await as_order.nc.subscribe("_INBOX_payment.>")
    await as_order.nc.publish(pull, b'{"batch": 1}', reply="_INBOX_order.stolen")
    await as_order.nc.flush()

    assert "subscription" in (await as_order.refused('">"')).lower()
    assert "subscription" in (await as_order.refused("_INBOX_payment.>")).lower()
    assert "publish" in (await as_order.refused(pull)).lower()


async def test_a_forged_payment_leaves_the_order_unpaid(
    secured: tuple[Platform, Story], as_order: Intruder
) -> None:
    platform, story = secured
    platform.kill("payment")  # the charge never happens while the forger tries
    try:
        customer, product = await story.customer(), await story.product(stock=5)
        placed = await story.place(customer, product)
        await story.settled(placed.order_id, "payment_pending")
        forged = PaymentSucceeded.model_validate(
            {
                "payment_id": uuid.uuid4(),
                "order_id": placed.order_id,
                "customer_id": customer,
                "amount": placed.total.model_dump(),
                "succeeded_at": datetime.now(UTC),
            }
        )

        await _forge(as_order, forged)

        await as_order.refused("payment.succeeded.v1")
        consumer = await story.nc.jetstream().consumer_info("PAYMENT", "order_on_payment_succeeded")
        assert (consumer.num_pending, consumer.num_ack_pending) == (0, 0)
        assert (await story.orders.get_order(placed.order_id)).status == "payment_pending"
    finally:
        await asyncio.to_thread(platform.start_service, "payment")
    # The real payment service, within its rights, still settles it.
    assert (await story.settled(placed.order_id, timeout=WAIT)).status == "confirmed"


async def _forge(intruder: Intruder, forged: PaymentSucceeded) -> None:
    """Publish the forgery as the payment service would (envelope and all), without an ack.

    A JetStream publish would wait for an ack that never comes; the refusal arrives as the
    server's error instead.
    """
    publisher = PaymentPublisher(NatsEventSink(intruder.nc))
    with pytest.raises((PublishError, NatsError, TimeoutError)):
        await asyncio.wait_for(
            publisher.payment_succeeded(forged, aggregate_id=str(forged.payment_id)), timeout=5
        )


async def test_the_admin_api_lists_and_redrives_a_dead_letter_within_its_rights(
    secured: tuple[Platform, Story],
) -> None:
    platform, story = secured
    durable = f"probe{uuid.uuid4().hex[:8]}"
    await dead_letter(
        story.nc.jetstream(),
        service="order",
        durable=durable,
        stream="ORDER",
        message=("order.security_probe.v1", 1, b"{}", {"ce-id": durable}),
        error="boom",
        attempts=1,
    )
    token = TEST_KEY.issue(uuid.uuid4(), ["admin"])
    async with httpx.AsyncClient(
        base_url=platform.urls["admin"], headers={"authorization": f"Bearer {token}"}
    ) as admin:
        listed = (await admin.get("/dlq", params={"service": "order"})).json()["items"]
        [letter] = [x for x in listed if x["consumer"] == durable]
        redriven = await admin.post(f"/dlq/{letter['stream_sequence']}/redrive")

    assert redriven.status_code == 202, redriven.text
    assert redriven.json()["original_subject"] == "order.security_probe.v1"
    back = await story.nc.jetstream().get_last_msg("ORDER", "order.security_probe.v1")
    assert (back.headers or {}).get("ce-id") == durable


async def test_the_services_kept_within_their_rights(secured: tuple[Platform, Story]) -> None:
    platform, story = secured
    customer, product = await story.customer(), await story.product(stock=5)
    placed = await story.place(customer, product)
    assert (await story.settled(placed.order_id)).status == "confirmed"

    async def settled_consumers() -> bool:
        js = story.nc.jetstream()
        streams = ("ORDER", "INVENTORY", "PAYMENT")
        infos = [info for stream in streams for info in await js.consumers_info(stream)]
        return all(info.num_ack_pending == 0 and info.num_redelivered == 0 for info in infos)

    await eventually(settled_consumers, timeout=WAIT)
    log = (platform.data_dir / "nats" / "nats-server.log").read_text(errors="replace")
    refused = re.compile(r"(Publish|Subscription) Violation")
    by_services = [
        line for line in log.splitlines() if refused.search(line) and "intruder" not in line
    ]
    assert by_services == []
