"""The user service in-process on the session's real NATS and PostgreSQL.

One host serves the module; every test uses fresh users and e-mails, because the `user`
schema and the durable consumers are shared with every other test of the session.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from generated.order.events import ORDER_DELIVERED
from generated.order.events import Publisher as OrderPublisher
from generated.order.models import OrderDelivered
from generated.platform import STREAMS
from generated.user.client import UserClient
from generated.user.events import LOYALTY_TIER_CHANGED, USER_REGISTERED, USER_SEGMENT_CHANGED
from generated.user.models import (
    LoyaltyTierChanged,
    RegisterUserRequest,
    TrackBehaviorRequest,
    UpdateProfileRequest,
    UserPreferences,
    UserProfile,
    UserRegistered,
)
from generated.user.models import OrderDelivered as UserOrderDelivered
from runtime.bus.base import Channel
from runtime.bus.envelope import MSG_ID
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http import PROBLEM_JSON, ProblemError
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.user.handlers import UserHandlers
from services.user.service import NAME, definition
from services.user.users import Users, stream_of
from services.user.views import DEFAULT_PREFERENCES, UserViews
from tests.conftest import context_of
from tests.e2e.harness import TEST_KEY

WAIT = 10.0  # generous: a slow CI machine still answers well within it
BASE = "http://user.test"


@dataclass
class Running:
    """The running service, its typed client, and a raw connection of the test's own."""

    host: ServiceHost
    users: UserClient
    http: httpx.AsyncClient
    nc: Client

    @property
    def handlers(self) -> UserHandlers:
        """The service's handlers, to call directly as a consumer would."""
        assert self.host.context is not None
        return UserHandlers(self.host.context, Users(UserViews(NAME)))


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The user service, started once for the module and stopped at its end."""
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=TEST_KEY)
    app = await host.start()
    admin = TEST_KEY.issue(uuid.uuid4(), ["admin"])
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {admin}"},
    )
    nc = await nats.connect(nats_url)
    try:
        yield Running(host, UserClient(BASE, http=http), http, nc)
    finally:
        await http.aclose()
        await nc.close()
        await host.stop()


async def register(service: Running, **fields: Any) -> UserProfile:
    """Register a user with a fresh e-mail; `fields` override the defaults."""
    body = {
        "email": f"u{uuid.uuid4().hex}@example.com",
        "full_name": "Lucía Martínez",
        "role": "customer",
        "province": "jaen",
        "password": "correct-horse-battery",
        **fields,
    }
    return await service.users.register_user(RegisterUserRequest.model_validate(body))


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


Finder = Callable[[UUID], Awaitable[Msg]]


@asynccontextmanager
async def watching(nc: Client, channel: Channel[Any], stream: str) -> AsyncIterator[Finder]:
    """An ephemeral consumer of the messages published on `channel` from now on.

    Yields `find(user_id)`, which returns the first message whose payload names the user.
    """
    sub = await nc.jetstream().subscribe(
        channel.subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )

    async def find(user_id: UUID) -> Msg:
        deadline = asyncio.get_running_loop().time() + WAIT
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            if json.loads(msg.data).get("user_id") == str(user_id):
                return msg
        pytest.fail(f"no {channel.message} for {user_id} on {channel.subject} within {WAIT} s")

    try:
        yield find
    finally:
        await sub.unsubscribe()


def delivered(customer_id: UUID) -> OrderDelivered:
    """An OrderDelivered of one line for `customer_id`."""
    eur = {"amount_minor": 1250, "currency": "EUR"}
    return OrderDelivered.model_validate(
        {
            "order_id": uuid.uuid4(),
            "customer_id": customer_id,
            "items": [
                {
                    "product_id": uuid.uuid4(),
                    "artisan_id": uuid.uuid4(),
                    "quantity": 1,
                    "unit_price": eur,
                }
            ],
            "total": eur,
            "delivered_at": datetime.now(UTC),
        }
    )


async def deliver_directly(service: Running, customer_id: UUID, message_id: str) -> None:
    """Call on_order_delivered as the consumer would, with message id `message_id`."""
    message = UserOrderDelivered.model_validate(delivered(customer_id).model_dump())
    context = context_of(ORDER_DELIVERED, str(message.order_id), message_id)
    await service.handlers.on_order_delivered(message, context)


async def test_registered_user_is_readable_and_announced_with_its_envelope(
    service: Running,
) -> None:
    async with watching(service.nc, USER_REGISTERED, "USER") as find:
        profile = await register(service, province="granada")
        msg = await find(profile.user_id)

    assert (profile.role, profile.province, profile.segment) == ("customer", "granada", "new")
    assert profile.delivered_orders == 0
    assert profile.loyalty_tier is None
    assert await service.users.get_profile(profile.user_id) == profile
    headers = msg.headers or {}
    assert headers["ce-type"] == "a4co.user.registered.v1"
    assert headers["ce-source"] == "/services/user"
    assert headers["ce-subject"] == str(profile.user_id)
    assert headers[MSG_ID] == headers["ce-id"]
    event = UserRegistered.model_validate_json(msg.data)
    assert event.model_dump(exclude={"registered_at"}) == profile.model_dump(
        include={"user_id", "email", "full_name", "role", "province"}
    )
    assert event.registered_at == profile.registered_at


async def test_duplicate_email_is_a_conflict_problem(service: Running) -> None:
    first = await register(service)

    with pytest.raises(ProblemError) as raised:
        await register(service, email=first.email.upper(), role="artisan")
    response = await service.http.post(
        "/users",
        json={
            "email": first.email,
            "full_name": "Otra",
            "role": "customer",
            "province": "jaen",
            "password": "correct-horse-battery",
        },
    )

    assert raised.value.status == 409
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 409


async def test_unknown_profile_is_a_not_found_problem(service: Running) -> None:
    unknown = uuid.uuid4()

    response = await service.http.get(f"/users/{unknown}")
    with pytest.raises(ProblemError) as raised:
        await service.users.get_preferences(unknown)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["title"] == "Not Found"
    assert raised.value.status == 404


async def test_profile_update_changes_only_the_fields_given(service: Running) -> None:
    profile = await register(service, full_name="Lucía Martínez", province="jaen")

    moved = await service.users.update_profile(
        profile.user_id, UpdateProfileRequest(province="malaga")
    )
    renamed = await service.users.update_profile(
        profile.user_id, UpdateProfileRequest(full_name="Lucía Martínez Ruiz")
    )
    with pytest.raises(ProblemError) as empty:
        await service.users.update_profile(profile.user_id, UpdateProfileRequest())

    assert (moved.full_name, moved.province) == ("Lucía Martínez", "malaga")
    assert (renamed.full_name, renamed.province) == ("Lucía Martínez Ruiz", "malaga")
    assert renamed.updated_at >= profile.updated_at
    assert empty.value.status == 422
    assert await service.users.get_profile(profile.user_id) == renamed


async def test_preferences_are_defaults_until_replaced(service: Running) -> None:
    profile = await register(service)
    chosen = UserPreferences(
        favourite_categories=["olive_oil", "cheese"],
        language="en",
        email_notifications=False,
        push_notifications=True,
    )

    before = await service.users.get_preferences(profile.user_id)
    stored = await service.users.replace_preferences(profile.user_id, chosen)
    response = await service.http.put(
        f"/users/{profile.user_id}/preferences",
        json={**chosen.model_dump(), "favourite_categories": ["wine", "wine"]},
    )

    assert before == DEFAULT_PREFERENCES
    assert stored == chosen
    assert await service.users.get_preferences(profile.user_id) == chosen
    assert response.status_code == 422


async def test_third_olive_oil_view_makes_an_olive_oil_lover(service: Running) -> None:
    profile = await register(service)
    view = TrackBehaviorRequest(
        action="viewed_product", product_id=uuid.uuid4(), category="olive_oil"
    )

    async with watching(service.nc, USER_SEGMENT_CHANGED, "USER") as find:
        tracked = [await service.users.track_behavior(profile.user_id, view) for _ in range(2)]
        after_two = await service.users.get_profile(profile.user_id)
        tracked.append(await service.users.track_behavior(profile.user_id, view))
        msg = await find(profile.user_id)

    assert tracked[0].user_id == profile.user_id
    assert (tracked[0].action, tracked[0].category) == ("viewed_product", "olive_oil")
    assert after_two.segment == "new"
    assert (await service.users.get_profile(profile.user_id)).segment == "olive_oil_lover"
    change = json.loads(msg.data)
    assert (change["from_segment"], change["to_segment"]) == ("new", "olive_oil_lover")


async def test_product_action_without_product_is_unprocessable(service: Running) -> None:
    profile = await register(service)

    with pytest.raises(ProblemError) as raised:
        await service.users.track_behavior(
            profile.user_id, TrackBehaviorRequest(action="viewed_product")
        )

    assert raised.value.status == 422


async def test_duplicate_delivery_is_applied_once(service: Running) -> None:
    profile = await register(service)
    publisher = OrderPublisher(NatsEventSink(service.nc))
    order = delivered(profile.user_id)
    message_id = str(uuid.uuid4())

    for _ in range(2):
        await publisher.order_delivered(
            order, aggregate_id=str(order.order_id), message_id=message_id
        )

    async def counted() -> bool:
        return (await service.users.get_profile(profile.user_id)).delivered_orders >= 1

    await eventually(counted, "the delivered order counted")
    # JetStream dropped the duplicate; the inbox must stop any that gets through.
    await deliver_directly(service, profile.user_id, message_id)
    again = str(uuid.uuid4())
    await deliver_directly(service, profile.user_id, again)
    await deliver_directly(service, profile.user_id, again)

    final = await service.users.get_profile(profile.user_id)
    assert final.delivered_orders == 2
    assert final.segment == "occasional"


async def test_segment_follows_delivered_orders_then_the_gold_tier(service: Running) -> None:
    profile = await register(service)
    for _ in range(3):
        await deliver_directly(service, profile.user_id, str(uuid.uuid4()))
    regular = await service.users.get_profile(profile.user_id)

    now = datetime.now(UTC)
    gold = LoyaltyTierChanged(
        user_id=profile.user_id, from_tier="silver", to_tier="gold", balance=2000, changed_at=now
    )
    stale = LoyaltyTierChanged(
        user_id=profile.user_id,
        from_tier="bronze",
        to_tier="silver",
        balance=500,
        changed_at=now - timedelta(days=1),
    )
    handlers = service.handlers
    subject = str(profile.user_id)
    await handlers.on_loyalty_tier_changed(gold, context_of(LOYALTY_TIER_CHANGED, subject))
    await handlers.on_loyalty_tier_changed(stale, context_of(LOYALTY_TIER_CHANGED, subject))
    vip = await service.users.get_profile(profile.user_id)

    assert (regular.delivered_orders, regular.segment) == (3, "regular")
    assert (vip.loyalty_tier, vip.segment) == ("gold", "vip")


async def test_artisans_are_not_segmented(service: Running) -> None:
    artisan = await register(service, role="artisan")

    for _ in range(3):
        await deliver_directly(service, artisan.user_id, str(uuid.uuid4()))

    profile = await service.users.get_profile(artisan.user_id)
    assert (profile.delivered_orders, profile.segment) == (3, "new")


async def test_concurrent_actions_of_one_user_are_all_recorded(service: Running) -> None:
    profile = await register(service)
    view = TrackBehaviorRequest(
        action="viewed_product", product_id=uuid.uuid4(), category="ceramics"
    )

    await asyncio.gather(*(service.users.track_behavior(profile.user_id, view) for _ in range(6)))

    assert service.host.context is not None
    events = await service.host.context.store.load(stream_of(profile.user_id))
    kinds = [e.type for e in events]
    assert kinds.count("a4co.user.behavior_tracked.v1") == 6
    assert kinds.count("a4co.user.segment_changed.v1") == 1
    assert (await service.users.get_profile(profile.user_id)).segment == "ceramics_collector"


async def test_profile_needs_a_token_and_customers_read_only_their_own(service: Running) -> None:
    profile, other = await register(service), await register(service)
    own = TEST_KEY.issue(profile.user_id, ["customer"])
    stranger = TEST_KEY.issue(other.user_id, ["customer"])
    path = f"/users/{profile.user_id}"

    anonymous = await service.http.get(path, headers={"Authorization": ""})
    forged = await service.http.get(path, headers={"Authorization": "Bearer not-a-jwt"})
    by_owner = await service.http.get(path, headers={"Authorization": f"Bearer {own}"})
    by_stranger = await service.http.get(path, headers={"Authorization": f"Bearer {stranger}"})

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.headers["content-type"].startswith(PROBLEM_JSON)
    assert forged.status_code == 401
    assert by_owner.status_code == 200
    assert by_owner.json()["user_id"] == str(profile.user_id)
    assert by_stranger.status_code == 403
    assert by_stranger.json()["title"] == "Forbidden"


async def test_a_token_signed_by_another_key_or_expired_is_refused(service: Running) -> None:
    profile = await register(service)
    foreign = SigningKey.generate(TEST_KEY.kid).issue(profile.user_id, ["customer"])
    expired = TEST_KEY.issue(profile.user_id, ["customer"], now=time.time() - 3600)

    responses = [
        await service.http.get(
            f"/users/{profile.user_id}", headers={"Authorization": f"Bearer {token}"}
        )
        for token in (foreign, expired)
    ]

    assert [r.status_code for r in responses] == [401, 401]
