"""The loyalty service in-process on real NATS and PostgreSQL: accounts, points, tiers.

Events are published on the bus as the user and order services would; every test uses
fresh users, because the schema and durables are shared with the whole session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from generated.loyalty.client import LoyaltyClient
from generated.loyalty.events import LOYALTY_TIER_CHANGED, POINTS_AWARDED
from generated.loyalty.models import LoyaltyAccount
from generated.order.events import Publisher as OrderPublisher
from generated.order.models import OrderDelivered
from generated.platform import STREAMS
from generated.user.events import Publisher as UserPublisher
from generated.user.models import UserRegistered
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http import ProblemError
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.loyalty.service import NAME, definition
from tests.e2e.harness import eventually

KEY = SigningKey.generate()
BASE = "http://loyalty.test"


@dataclass
class Running:
    """The service's app over ASGI, and the test's NATS connection."""

    http: httpx.AsyncClient
    nc: Client

    def client(self, token: str) -> LoyaltyClient:
        """A typed client calling with `token`."""
        return LoyaltyClient(BASE, http=self.http).with_token(token)

    @property
    def bus(self) -> NatsEventSink:
        """Publish as the owning services would."""
        return NatsEventSink(self.nc)


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The loyalty service for the module."""
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=KEY)
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    try:
        yield Running(http, nc)
    finally:
        await http.aclose()
        await nc.drain()
        await host.stop()


async def register(service: Running) -> UUID:
    """Announce a new customer."""
    user_id = uuid.uuid4()
    await UserPublisher(service.bus).user_registered(
        UserRegistered(
            user_id=user_id,
            email=f"u{user_id.hex[:10]}@example.es",
            full_name="Lucía Martínez",
            role="customer",
            province="jaen",
            registered_at=datetime.now(UTC),
        ),
        aggregate_id=str(user_id),
    )
    return user_id


async def deliver(
    service: Running, customer: UUID, total_minor: int, order_id: UUID | None = None
) -> UUID:
    """Announce a delivered order of `total_minor` cents."""
    order_id = order_id or uuid.uuid4()
    line = {
        "product_id": uuid.uuid4(),
        "artisan_id": uuid.uuid4(),
        "quantity": 1,
        "unit_price": {"amount_minor": total_minor, "currency": "EUR"},
    }
    await OrderPublisher(service.bus).order_delivered(
        OrderDelivered.model_validate(
            {
                "order_id": order_id,
                "customer_id": customer,
                "items": [line],
                "total": {"amount_minor": total_minor, "currency": "EUR"},
                "delivered_at": datetime.now(UTC),
            }
        ),
        aggregate_id=str(order_id),
    )
    return order_id


async def account_with(
    service: Running, user_id: UUID, balance: int | None = None
) -> LoyaltyAccount:
    """Wait for the user's account (with `balance`, when given), read as its owner."""
    own = service.client(KEY.issue(user_id, ["customer"]))

    async def read() -> LoyaltyAccount | None:
        try:
            account = await own.get_loyalty_account(user_id)
        except ProblemError as exc:
            assert exc.status == 404
            return None
        return account if balance is None or account.balance == balance else None

    result: LoyaltyAccount = await eventually(read)
    return result


async def published(nc: Client, subject: str, user_id: UUID) -> list[dict[str, Any]]:
    """Payloads naming the user on `subject` in the LOYALTY stream."""
    sub = await nc.jetstream().subscribe(
        subject, stream="LOYALTY", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    found: list[dict[str, Any]] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                return found
            payload = json.loads(msg.data)
            if payload["user_id"] == str(user_id):
                found.append(payload)
    finally:
        await sub.unsubscribe()


async def test_registration_opens_a_bronze_account_with_no_points(service: Running) -> None:
    user_id = await register(service)
    account = await account_with(service, user_id)
    assert (account.balance, account.tier) == (0, "bronze")
    assert (account.next_tier, account.points_to_next_tier) == ("silver", 500)


async def test_points_per_whole_euro_and_silver_at_500(service: Running) -> None:
    user_id = await register(service)
    await account_with(service, user_id)
    await deliver(service, user_id, 49_999)  # 499.99 EUR: 499 points, still bronze
    account = await account_with(service, user_id, 499)
    assert account.tier == "bronze" and account.points_to_next_tier == 1
    await deliver(service, user_id, 150)  # 1.50 EUR: 1 point, silver
    account = await account_with(service, user_id, 500)
    assert (account.tier, account.next_tier, account.points_to_next_tier) == (
        "silver",
        "gold",
        1500,
    )

    async def changes() -> list[dict[str, Any]]:
        return await published(service.nc, LOYALTY_TIER_CHANGED.subject, user_id)

    (change,) = await eventually(changes)
    assert (change["from_tier"], change["to_tier"], change["balance"]) == ("bronze", "silver", 500)
    awards = await published(service.nc, POINTS_AWARDED.subject, user_id)
    assert [(a["points"], a["balance"]) for a in awards] == [(499, 499), (1, 500)]


async def test_an_order_earns_points_once(service: Running) -> None:
    user_id = await register(service)
    order_id = await deliver(service, user_id, 2_999)
    await deliver(service, user_id, 2_999, order_id)  # announced twice, under two ids
    await deliver(service, user_id, 1_000)
    account = await account_with(service, user_id, 39)
    assert account.balance == 29 + 10


async def test_account_is_for_its_owner_or_an_admin(service: Running) -> None:
    user_id = await register(service)
    await account_with(service, user_id)
    stranger = service.client(KEY.issue(uuid.uuid4(), ["customer"]))
    with pytest.raises(ProblemError) as caught:
        await stranger.get_loyalty_account(user_id)
    assert caught.value.status == 403
    admin = service.client(KEY.issue(uuid.uuid4(), ["admin"]))
    assert (await admin.get_loyalty_account(user_id)).user_id == user_id
    with pytest.raises(ProblemError) as caught:
        await admin.get_loyalty_account(uuid.uuid4())
    assert caught.value.status == 404
