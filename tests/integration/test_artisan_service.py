"""The artisan service in-process on the session's real NATS and PostgreSQL, with geo.

Geo runs behind a real uvicorn (the artisan service calls it over HTTP with the generated
client); tokens are minted by a test `SigningKey`. The `artisan` schema and the durable
consumers are shared with the session, so every test uses fresh users and artisans.
The module's tier rule has small thresholds (premium at 2 orders, master at 4), so a tier
change takes a few deliveries; the default thresholds are unit-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from generated.artisan.api import build_router
from generated.artisan.events import (
    ARTISAN_PERFORMANCE_EVALUATED,
    ARTISAN_VERIFIED,
    NEW_PRODUCT_LISTED,
)
from generated.artisan.models import ArtisanPerformanceEvaluated, ArtisanVerified, NewProductListed
from generated.geo.client import GeoClient
from generated.order.events import Publisher as OrderPublisher
from generated.order.models import OrderDelivered
from generated.payment.events import Publisher as PaymentPublisher
from generated.payment.models import PaymentSplitCreated
from generated.platform import STREAMS
from runtime.bus.base import Channel
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http import create_app
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.artisan.api import ArtisanApi
from services.artisan.artisans import ArtisanTables
from services.artisan.domain import TierRule
from services.artisan.service import NAME, definition
from services.geo.service import definition as geo_definition
from tests.e2e.harness import bound_socket, eventually, free_port, start_uvicorn

WAIT = 10.0
BASE = "http://artisan.test"
RULE = TierRule(premium_orders=2, master_orders=4)


@dataclass
class Running:
    """The artisan service's HTTP client, the signing key, and a NATS connection."""

    host: ServiceHost
    http: httpx.AsyncClient
    key: SigningKey
    nc: Client

    def auth(self, user_id: UUID, *roles: str) -> dict[str, str]:
        """The Authorization header of a token for `user_id` with `roles`."""
        return {"Authorization": f"Bearer {self.key.issue(user_id, roles=roles)}"}

    @property
    def admin(self) -> dict[str, str]:
        """An admin's Authorization header."""
        return self.auth(uuid.uuid4(), "admin")


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """Geo on uvicorn, then the artisan service calling it; stopped at the module's end."""
    geo_socket = bound_socket()
    geo_host = ServiceHost(
        geo_definition(),
        Settings(service="geo", nats_url=nats_url, database_url=database_url),
        STREAMS,
    )
    geo_server, geo_task = start_uvicorn(await geo_host.start(), geo_socket)
    key = SigningKey.generate()
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(
        definition(geo_url=f"http://127.0.0.1:{geo_socket.getsockname()[1]}", rule=RULE),
        settings,
        STREAMS,
        verifier=key,
    )
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    await eventually(lambda: geo_server.started)
    try:
        yield Running(host, http, key, nc)
    finally:
        await http.aclose()
        await nc.close()
        await host.stop()
        geo_server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await geo_task
        await geo_host.stop()


async def apply(service: Running, user_id: UUID | None = None, **fields: Any) -> dict[str, Any]:
    """Apply as a fresh (or the given) user with their own token; the 201 body."""
    user_id = user_id or uuid.uuid4()
    body = {
        "user_id": str(user_id),
        "business_name": "Almazara Sierra Mágina",
        "description": "Family olive mill in Bedmar since 1952.",
        "province": "jaen",
        "categories": ["olive_oil"],
        **fields,
    }
    response = await service.http.post(
        "/artisans", json=body, headers=service.auth(user_id, "artisan")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def active(service: Running, level: str = "basic", **fields: Any) -> dict[str, Any]:
    """A freshly applied artisan, verified by an admin at `level`."""
    artisan = await apply(service, **fields)
    response = await service.http.post(
        f"/artisans/{artisan['artisan_id']}/verify",
        json={"verification_level": level},
        headers=service.admin,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextlib.asynccontextmanager
async def watching(nc: Client, channel: Channel[Any]) -> AsyncIterator[Any]:
    """An ephemeral consumer of `channel` on the ARTISAN stream, from now on.

    Yields `find(field, value)`: the first message whose payload has `field` == `value`.
    """
    sub = await nc.jetstream().subscribe(
        channel.subject, stream="ARTISAN", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )

    async def find(field: str, value: object) -> Msg:
        deadline = asyncio.get_running_loop().time() + WAIT
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            if json.loads(msg.data).get(field) == str(value):
                return msg
        pytest.fail(f"no {channel.message} with {field}={value} within {WAIT} s")

    try:
        yield find
    finally:
        await sub.unsubscribe()


def listing(**fields: Any) -> dict[str, Any]:
    """A product listing request body."""
    return {
        "name": "Aceite de oliva virgen extra Picual 500 ml",
        "description": "Cosecha temprana de Sierra Mágina.",
        "category": "olive_oil",
        "price": {"amount_minor": 1250, "currency": "EUR"},
        "initial_stock": 120,
        "stock_threshold": 10,
        **fields,
    }


async def test_an_admin_verifies_a_pending_artisan_and_artisan_verified_is_published(
    service: Running,
) -> None:
    artisan = await apply(service, province="granada")
    path = f"/artisans/{artisan['artisan_id']}/verify"

    as_customer = await service.http.post(
        path,
        json={"verification_level": "premium"},
        headers=service.auth(uuid.uuid4(), "customer"),
    )
    async with watching(service.nc, ARTISAN_VERIFIED) as find:
        verified = await service.http.post(
            path, json={"verification_level": "premium"}, headers=service.admin
        )
        msg = await find("artisan_id", artisan["artisan_id"])
    again = await service.http.post(
        path, json={"verification_level": "master"}, headers=service.admin
    )

    assert artisan["status"] == "pending" and artisan.get("verification_level") is None
    assert as_customer.status_code == 403
    assert as_customer.headers["content-type"].startswith("application/problem+json")
    assert verified.status_code == 200
    body = verified.json()
    assert (body["status"], body["verification_level"]) == ("active", "premium")
    event = ArtisanVerified.model_validate_json(msg.data)
    assert (event.user_id, event.verification_level, event.province) == (
        UUID(artisan["user_id"]),
        "premium",
        "granada",
    )
    assert (msg.headers or {})["ce-subject"] == artisan["artisan_id"]
    assert again.status_code == 409


async def test_a_user_applies_only_for_themselves_and_only_once(service: Running) -> None:
    user_id = uuid.uuid4()
    body = {
        "user_id": str(user_id),
        "business_name": "Cerámica Úbeda",
        "description": "Alfarería tradicional.",
        "province": "jaen",
        "categories": ["ceramics"],
    }

    anonymous = await service.http.post("/artisans", json=body)
    for_someone_else = await service.http.post(
        "/artisans", json=body, headers=service.auth(uuid.uuid4(), "customer")
    )
    applied = await apply(service, user_id)
    twice = await service.http.post("/artisans", json=body, headers=service.auth(user_id))
    repeated = await service.http.post(
        "/artisans",
        json={**body, "user_id": str(uuid.uuid4()), "categories": ["ceramics", "ceramics"]},
        headers=service.admin,
    )

    assert applied["artisan_id"] == str(user_id)  # an artisan's id is their user id
    assert anonymous.status_code == 401
    assert for_someone_else.status_code == 403
    assert twice.status_code == 409
    assert repeated.status_code == 422


async def test_only_the_owner_of_an_active_artisan_lists_products(service: Running) -> None:
    artisan = await active(service, level="basic")
    owner, path = UUID(artisan["user_id"]), f"/artisans/{artisan['artisan_id']}/products"
    pending = await apply(service)

    by_other_artisan = await service.http.post(
        path, json=listing(), headers=service.auth(uuid.uuid4(), "artisan")
    )
    by_customer_owner = await service.http.post(
        path, json=listing(), headers=service.auth(owner, "customer")
    )
    while_pending = await service.http.post(
        f"/artisans/{pending['artisan_id']}/products",
        json=listing(),
        headers=service.auth(UUID(pending["user_id"]), "artisan"),
    )
    unknown = await service.http.post(
        f"/artisans/{uuid.uuid4()}/products", json=listing(), headers=service.auth(owner, "artisan")
    )
    async with watching(service.nc, NEW_PRODUCT_LISTED) as find:
        listed = await service.http.post(
            path, json=listing(initial_stock=77), headers=service.auth(owner, "artisan")
        )
        assert listed.status_code == 201, listed.text
        msg = await find("product_id", listed.json()["product_id"])

    assert by_other_artisan.status_code == 403
    assert by_customer_owner.status_code == 403
    assert while_pending.status_code == 409
    assert unknown.status_code == 404
    event = NewProductListed.model_validate_json(msg.data)
    assert event == NewProductListed.model_validate(listed.json())
    assert (event.artisan_id, event.province) == (UUID(artisan["artisan_id"]), "jaen")
    assert (event.initial_stock, event.stock_threshold) == (77, 10)
    assert (msg.headers or {})["ce-subject"] == str(event.product_id)


@pytest.mark.parametrize("amount_minor", [-100, 0, 100_000_001, 2**63, 2**70])
async def test_a_price_below_a_cent_or_beyond_its_bound_is_a_422_naming_the_field(
    service: Running, amount_minor: int
) -> None:
    artisan = await active(service, level="basic")
    owner, path = UUID(artisan["user_id"]), f"/artisans/{artisan['artisan_id']}/products"
    price = {"amount_minor": amount_minor, "currency": "EUR"}
    async with watching(service.nc, NEW_PRODUCT_LISTED) as find:
        refused = await service.http.post(
            path, json=listing(price=price), headers=service.auth(owner, "artisan")
        )
        fine = await service.http.post(path, json=listing(), headers=service.auth(owner, "artisan"))
        assert fine.status_code == 201, fine.text
        await find("product_id", fine.json()["product_id"])

    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("body.price.amount_minor:"), refused.text


async def test_listing_pages_are_oldest_first_without_duplicates_or_gaps(
    service: Running,
) -> None:
    mine = [(await apply(service, province="almeria"))["artisan_id"] for _ in range(5)]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"status": "pending", "province": "almeria", "limit": 2}
        response = await service.http.get(
            "/artisans", params={**params, **({"cursor": cursor} if cursor else {})},
            headers=service.admin,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [a["artisan_id"] for a in page["items"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    as_customer = await service.http.get(
        "/artisans", params={"status": "pending"}, headers=service.auth(uuid.uuid4())
    )
    bad_cursor = await service.http.get(
        "/artisans", params={"status": "pending", "cursor": "bogus"}, headers=service.admin
    )

    assert len(seen) == len(set(seen))
    assert [a for a in seen if a in mine] == mine
    assert as_customer.status_code == 403
    assert bad_cursor.status_code == 400


def delivered(artisan_id: UUID) -> OrderDelivered:
    """A delivered order with two lines of the artisan (it counts once)."""
    eur = {"amount_minor": 1250, "currency": "EUR"}
    line = {"artisan_id": artisan_id, "quantity": 1, "unit_price": eur}
    return OrderDelivered.model_validate(
        {
            "order_id": uuid.uuid4(),
            "customer_id": uuid.uuid4(),
            "items": [{**line, "product_id": uuid.uuid4()}, {**line, "product_id": uuid.uuid4()}],
            "total": {"amount_minor": 2500, "currency": "EUR"},
            "delivered_at": datetime.now(UTC),
        }
    )


async def test_delivered_orders_promote_the_artisan_and_announce_the_evaluation(
    service: Running,
) -> None:
    artisan = await active(service, level="basic")
    artisan_id = UUID(artisan["artisan_id"])
    orders = OrderPublisher(NatsEventSink(service.nc))
    first = delivered(artisan_id)

    async with watching(service.nc, ARTISAN_PERFORMANCE_EVALUATED) as find:
        await orders.order_delivered(first, aggregate_id=str(first.order_id))
        await orders.order_delivered(first, aggregate_id=str(first.order_id))  # a duplicate
        second = delivered(artisan_id)
        await orders.order_delivered(second, aggregate_id=str(second.order_id))
        msg = await find("artisan_id", artisan_id)

    evaluation = ArtisanPerformanceEvaluated.model_validate_json(msg.data)
    assert (evaluation.previous_tier, evaluation.tier) == ("basic", "premium")
    assert evaluation.orders_delivered == 2
    assert evaluation.period_start < evaluation.period_end == evaluation.evaluated_at
    now = (await service.http.get(f"/artisans/{artisan_id}")).json()
    assert now["verification_level"] == "premium"


async def test_nearby_artisans_come_from_geo_nearest_first(service: Running) -> None:
    jaen = await active(service, province="jaen")
    granada = await active(service, province="granada")
    huelva = await active(service, province="huelva")

    response = await service.http.get(
        "/artisans/nearby", params={"province": "jaen", "radius_km": 100, "limit": 100}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("same_province_only") is None
    found = {i["artisan"]["artisan_id"]: i["distance_km"] for i in body["items"]}
    assert found[jaen["artisan_id"]] == 0
    assert found[granada["artisan_id"]] == 69
    assert huelva["artisan_id"] not in found
    distances = [i["distance_km"] for i in body["items"]]
    assert distances == sorted(distances)
    assert {i["artisan"]["status"] for i in body["items"]} == {"active"}


async def test_nearby_falls_back_to_the_same_province_when_geo_is_down(
    service: Running,
) -> None:
    jaen = await active(service, province="jaen")
    granada = await active(service, province="granada")
    assert service.host.context is not None
    dead_geo = GeoClient(f"http://127.0.0.1:{free_port()}", timeout=0.5, retries=1)
    api = ArtisanApi(service.host.context, ArtisanTables(), dead_geo)
    app = create_app(NAME, [build_router(api)])

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        answers = [
            await http.get("/artisans/nearby", params={"province": "jaen", "limit": 100})
            for _ in range(7)  # enough to open the breaker: later answers come without a call
        ]
    await dead_geo.aclose()

    for response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["same_province_only"] is True
        found = {i["artisan"]["artisan_id"]: i["distance_km"] for i in body["items"]}
        assert found[jaen["artisan_id"]] == 0
        assert granada["artisan_id"] not in found
        assert {i["artisan"]["province"] for i in body["items"]} == {"jaen"}


def split_of(payment_id: UUID, *shares: tuple[UUID, int]) -> PaymentSplitCreated:
    """A premium split of a payment: 10 % of each artisan's gross kept."""
    return PaymentSplitCreated.model_validate(
        {
            "payment_id": payment_id,
            "order_id": uuid.uuid4(),
            "splits": [
                {
                    "artisan_id": artisan_id,
                    "tier": "premium",
                    "gross": {"amount_minor": gross, "currency": "EUR"},
                    "fee_rate_bp": 1000,
                    "marketplace_fee": {"amount_minor": gross // 10, "currency": "EUR"},
                    "net": {"amount_minor": gross - gross // 10, "currency": "EUR"},
                }
                for artisan_id, gross in shares
            ],
            "marketplace_fee_total": {
                "amount_minor": sum(g // 10 for _, g in shares),
                "currency": "EUR",
            },
            "created_at": datetime.now(UTC),
        }
    )


async def test_payment_splits_become_each_artisans_earnings_once(service: Running) -> None:
    # The consumer takes splits in batches; a unit's shares are written in one statement,
    # and a copy of a split (another message id) adds nothing.
    first, second = uuid.uuid4(), uuid.uuid4()
    payments = PaymentPublisher(NatsEventSink(service.nc))
    splits = [
        split_of(uuid.uuid4(), (first, 2500), (second, 1000)),
        split_of(uuid.uuid4(), (first, 999)),
    ]
    for split in [*splits, splits[0]]:
        await payments.payment_split_created(split, aggregate_id=str(split.payment_id))

    tables, store = ArtisanTables(), service.host.context.store

    async def earned() -> tuple[int, int] | None:
        async with store.transaction() as tx:
            totals = (await tables.net_earnings(tx, first), await tables.net_earnings(tx, second))
        return totals if totals == (2250 + 900, 900) else None

    assert await eventually(earned, timeout=WAIT * 3) == (3150, 900)
