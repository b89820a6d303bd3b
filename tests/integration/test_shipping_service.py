"""Shipping with the order saga on real servers: shipments open, move, and close the order.

user, inventory, payment, order and shipping run in-process (tests/e2e/harness.py); an
order placed over REST is confirmed by the saga, shipping opens its shipment from
OrderConfirmed, and the carrier's webhooks move it until order marks the order delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import ArtisanVerified
from generated.order.models import Address, Delivery, PlaceOrderRequest, StockLine
from generated.shipping.client import ShippingClient
from generated.shipping.models import (
    DeliverShipmentRequest,
    DispatchShipmentRequest,
    OrderConfirmed,
    Shipment,
)
from runtime.bus.envelope import request_context
from runtime.bus.memory import InMemoryEventSink
from runtime.http import ProblemError
from runtime.service import ServiceContext
from runtime.service.settings import Settings
from services.inventory.service import definition as inventory
from services.order.service import definition as order
from services.payment.service import definition as payment
from services.shipping.handlers import ShipmentHandlers
from services.shipping.service import definition as shipping
from services.shipping.shipments import ShipmentTables
from services.user.service import definition as user
from tests.conftest import Schema
from tests.e2e.harness import TEST_KEY, InProcessPlatform, eventually, platform
from tests.e2e.story import Story

ADMIN = TEST_KEY.issue(uuid.uuid4(), ["admin"], lifetime=86_400)  # issued at collection


@pytest.fixture(scope="module")
async def running(nats_url: str, database_url: str) -> AsyncIterator[InProcessPlatform]:
    """The saga's services and shipping, for the module."""
    definitions = {
        "user": lambda urls: user(),
        "inventory": lambda urls: inventory(),
        "payment": lambda urls: payment(),
        "order": lambda urls: order(user_url=urls["user"], scan_interval=0.2),
        "shipping": lambda urls: shipping(),
    }
    async with platform(nats_url, database_url, definitions) as started:
        yield started


@pytest.fixture
async def story(running: InProcessPlatform, database_url: str) -> AsyncIterator[Story]:
    s = Story.of(running, database_url)
    yield s
    await s.aclose()


def shipments(running: InProcessPlatform, token: str) -> ShippingClient:
    """A shipping client calling with `token`."""
    return ShippingClient(running.url("shipping")).with_token(token)


async def shipment_of(running: InProcessPlatform, order_id: UUID, customer: UUID) -> Shipment:
    """Wait for the order's shipment, read as its customer."""
    client = shipments(running, TEST_KEY.issue(customer, ["customer"]))

    async def found() -> Shipment | None:
        items = (await client.list_shipments(order_id=order_id)).items
        return items[0] if items else None

    result: Shipment = await eventually(found)
    return result


async def standard_order(story: Story, customer: UUID, product: UUID) -> UUID:
    """Place and settle an order delivered to an address in Málaga."""
    as_customer = story.orders.with_token(TEST_KEY.issue(customer, ["customer"]))
    placed = await as_customer.place_order(
        PlaceOrderRequest(
            customer_id=customer,
            items=[StockLine(product_id=product, quantity=1)],
            delivery=Delivery(
                method="standard",
                address=Address(
                    line1="Calle Larios 4", city="Málaga", postal_code="29005", province="malaga"
                ),
            ),
            card_token="tok_visa_ok",
        )
    )
    assert (await story.settled(placed.order_id)).status == "confirmed"
    return placed.order_id


async def order_event_types(story: Story, order_id: UUID) -> list[str]:
    rows = await story.sql(
        'SELECT type FROM "order".events WHERE stream_id = $1 ORDER BY version', f"order-{order_id}"
    )
    return [r["type"].removeprefix("a4co.") for r in rows]


async def test_confirmed_order_gets_a_pickup_shipment_its_customer_tracks(
    running: InProcessPlatform, story: Story
) -> None:
    customer, product = await story.customer(), await story.product(stock=3)
    placed = await story.place(customer, product)
    assert (await story.settled(placed.order_id)).status == "confirmed"
    shipment = await shipment_of(running, placed.order_id, customer)
    assert (shipment.status, shipment.customer_id, shipment.delivery.method) == (
        "created",
        customer,
        "pickup",
    )
    assert shipment.tracking_code.startswith("A4CO-PCK-")
    rows = await story.sql(
        "SELECT type FROM shipping.events WHERE stream_id = $1",
        f"shipment-{shipment.shipment_id}",
    )
    assert [r["type"] for r in rows] == ["a4co.shipping.shipment_created.v1"]
    stranger = shipments(running, TEST_KEY.issue(uuid.uuid4(), ["customer"]))
    with pytest.raises(ProblemError) as caught:
        await stranger.get_shipment(shipment.shipment_id)
    assert caught.value.status == 403


async def test_customer_may_neither_dispatch_nor_deliver(
    running: InProcessPlatform, story: Story
) -> None:
    customer, product = await story.customer(), await story.product(stock=3)
    order_id = await standard_order(story, customer, product)
    shipment = await shipment_of(running, order_id, customer)
    as_customer = shipments(running, TEST_KEY.issue(customer, ["customer"]))
    now = datetime.now(UTC)
    with pytest.raises(ProblemError) as caught:
        await as_customer.dispatch_shipment(
            shipment.shipment_id, DispatchShipmentRequest(carrier="Correos", dispatched_at=now)
        )
    assert caught.value.status == 403
    with pytest.raises(ProblemError) as caught:
        await as_customer.deliver_shipment(
            shipment.shipment_id, DeliverShipmentRequest(delivered_at=now)
        )
    assert caught.value.status == 403
    assert (await as_customer.get_shipment(shipment.shipment_id)).status == "created"


async def test_artisan_ships_their_order_and_order_becomes_shipped_then_delivered(
    running: InProcessPlatform, story: Story
) -> None:
    customer, product = await story.customer(), await story.product(stock=3)
    order_id = await standard_order(story, customer, product)
    shipment = await shipment_of(running, order_id, customer)
    assert shipment.tracking_code.startswith("A4CO-MAL-")
    (row,) = await story.sql(
        'SELECT artisan_id FROM "order".catalogue WHERE product_id = $1', product
    )
    artisan_user = uuid.uuid4()
    await ArtisanPublisher(story.bus).artisan_verified(
        ArtisanVerified(
            artisan_id=row["artisan_id"],
            user_id=artisan_user,
            verification_level="basic",
            province="jaen",
            verified_at=datetime.now(UTC),
        ),
        aggregate_id=str(row["artisan_id"]),
    )
    as_artisan = shipments(running, TEST_KEY.issue(artisan_user, ["artisan"]))
    other_artisan = shipments(running, TEST_KEY.issue(uuid.uuid4(), ["artisan"]))
    picked_up = datetime.now(UTC)
    with pytest.raises(ProblemError) as caught:  # not dispatched yet
        await shipments(running, ADMIN).deliver_shipment(
            shipment.shipment_id, DeliverShipmentRequest(delivered_at=picked_up)
        )
    assert caught.value.status == 409
    notice = DispatchShipmentRequest(carrier="Correos Express", dispatched_at=picked_up)
    with pytest.raises(ProblemError) as caught:
        await other_artisan.dispatch_shipment(shipment.shipment_id, notice)
    assert caught.value.status == 403

    async def dispatched() -> Shipment | None:
        try:
            return await as_artisan.dispatch_shipment(shipment.shipment_id, notice)
        except ProblemError as exc:  # 403 until shipping has read ArtisanVerified
            assert exc.status == 403
            return None

    moved = await eventually(dispatched)
    assert (moved.status, moved.carrier) == ("dispatched", "Correos Express")
    assert (await as_artisan.dispatch_shipment(shipment.shipment_id, notice)) == moved
    await story.settled(order_id, "shipped")
    with pytest.raises(ProblemError) as caught:
        await as_artisan.deliver_shipment(
            shipment.shipment_id,
            DeliverShipmentRequest(delivered_at=picked_up - timedelta(hours=1)),
        )
    assert caught.value.status == 422
    delivered_at = picked_up + timedelta(days=1)
    done = await as_artisan.deliver_shipment(
        shipment.shipment_id, DeliverShipmentRequest(delivered_at=delivered_at)
    )
    assert (done.status, done.delivered_at) == ("delivered", delivered_at)
    await story.settled(order_id, "delivered")
    assert (await order_event_types(story, order_id))[-3:] == [
        "order.state_changed.v1",
        "order.state_changed.v1",
        "order.delivered.v1",
    ]


async def test_collected_pickup_delivers_the_order_once(
    running: InProcessPlatform, story: Story
) -> None:
    customer, product = await story.customer(), await story.product(stock=3)
    placed = await story.place(customer, product)
    await story.settled(placed.order_id, "confirmed")
    shipment = await shipment_of(running, placed.order_id, customer)
    admin = shipments(running, ADMIN)
    with pytest.raises(ProblemError) as caught:
        await admin.dispatch_shipment(
            shipment.shipment_id,
            DispatchShipmentRequest(carrier="Correos", dispatched_at=datetime.now(UTC)),
        )
    assert caught.value.status == 409
    notice = DeliverShipmentRequest(delivered_at=datetime.now(UTC))
    first = await admin.deliver_shipment(shipment.shipment_id, notice)
    again = await admin.deliver_shipment(shipment.shipment_id, notice)
    assert first == again and first.status == "delivered"
    await story.settled(placed.order_id, "delivered")
    delivered = [
        t for t in await order_event_types(story, placed.order_id) if t == "order.delivered.v1"
    ]
    assert delivered == ["order.delivered.v1"]
    rows = await story.sql(
        "SELECT type FROM shipping.events WHERE stream_id = $1 ORDER BY version",
        f"shipment-{shipment.shipment_id}",
    )
    assert [r["type"] for r in rows] == [
        "a4co.shipping.shipment_created.v1",
        "a4co.shipping.shipment_delivered.v1",
    ]


async def test_an_order_confirmed_twice_under_two_ids_opens_one_shipment_and_takes_one_number(
    schema: Schema, database_url: str
) -> None:
    """The check and the tracking number are one statement: a copy of OrderConfirmed under
    another message id finds the shipment and leaves the sequence where it was."""
    tables = ShipmentTables(schema.name)
    async with schema.pool.acquire() as connection:
        await tables.migrate(connection)
    settings = Settings(service=schema.name, nats_url="nats://unused", database_url=database_url)
    handlers = ShipmentHandlers(ServiceContext(settings, schema.store, InMemoryEventSink()), tables)
    confirmed = OrderConfirmed.model_validate(
        {
            "order_id": uuid.uuid4(),
            "customer_id": uuid.uuid4(),
            "payment_id": uuid.uuid4(),
            "items": [
                {
                    "product_id": uuid.uuid4(),
                    "artisan_id": uuid.uuid4(),
                    "quantity": 1,
                    "unit_price": {"amount_minor": 500, "currency": "EUR"},
                }
            ],
            "total": {"amount_minor": 500, "currency": "EUR"},
            "delivery": {"method": "pickup"},
            "confirmed_at": datetime.now(UTC),
        }
    )
    for _ in range(2):
        await handlers.on_order_confirmed(
            confirmed, request_context(str(uuid.uuid4()), source="/t")
        )
    rows = await schema.pool.fetch(
        f'SELECT tracking_code FROM "{schema.name}".shipments WHERE order_id = $1',
        confirmed.order_id,
    )
    assert [r["tracking_code"] for r in rows] == ["A4CO-PCK-000001"]
    assert (
        await schema.pool.fetchval(f'SELECT last_value FROM "{schema.name}".tracking_numbers') == 1
    )
    assert await schema.pool.fetchval(f'SELECT count(*) FROM "{schema.name}".events') == 1
