"""The marketplace's whole story, through the gateway only, on all 18 services in process.

Every REST call goes to `<gateway>/api/<service>/...` with a token that auth issued through
the gateway (its password grant); each service verifies tokens against auth's real JWKS
(`InProcessPlatform(verifier=None, jwks_from="auth")`), as `make run` does. No test key.

The story (the module fixture `story`):

1. An artisan registers (user), logs in (auth), applies (artisan).
2. The bootstrap admin logs in and verifies the artisan at the basic level.
3. The artisan lists an olive oil with 5 units and a low-stock threshold of 3.
4. A customer registers, logs in, opens their live notification stream, searches the
   catalogue (the storefront tracks the search), finds the oil and views it (tracked).
5. The customer orders 3 units with `tok_visa_ok`: the order is confirmed; availability
   falls from 5 to 2, below the threshold.
6. The customer orders 1 more unit with `tok_declined`: it is cancelled (payment failed)
   and its unit is released.
7. The artisan dispatches and delivers the first order's shipment; the order becomes
   delivered.

Configured for the test: the artisan service's tier rule promotes at 1 delivered order
(`TierRule(premium_orders=1)`; the default is 25), so one delivery gives
ArtisanPerformanceEvaluated; every other threshold is the service's default. The gateway
gets a Redis namespace of its own and a generous per-client rate limit.

**Every seed event reached every receiver.** The receivers come from the generated
`SUBSCRIPTIONS` of each service (one per receive operation of the AsyncAPI contracts). The
stream sequences are noted before the story; afterwards, for each of the 16 seed events,
the messages its stream stored on its subject after that point and that name one of the
story's ids (users, artisan, product, orders) are read back from JetStream, with their
`ce-id`. There must be at least one; and for each receiving service, each of those ids
must appear in that service's inbox table (`"<service>".inbox.message_id`), which a
handler writes in the same transaction as its effects, before the message is acked. So the
check fails when an event is never published, when a receiver has no durable consumer for
it, or when a receiver's handler fails, skips it or never commits.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from a4co.infra import ServerHandle
from a4co.launcher import DEFAULT_SERVICES
from a4co.launcher.connections import make_room
from generated.analytics.client import AnalyticsClient
from generated.analytics.models import AnalyticsDashboard
from generated.artisan.client import ArtisanClient
from generated.artisan.models import ArtisanApplication, ProductListingRequest, VerifyArtisanRequest
from generated.loyalty.client import LoyaltyClient
from generated.notification.client import NotificationClient
from generated.notification.models import Money, NotificationSent
from generated.order.client import OrderClient
from generated.order.models import Order, PlaceOrderRequest
from generated.platform import STREAMS
from generated.product.client import ProductClient
from generated.recommendation.client import RecommendationClient
from generated.recommendation.models import RecommendationList
from generated.shipping.client import ShippingClient
from generated.shipping.models import DeliverShipmentRequest, DispatchShipmentRequest
from generated.user.client import UserClient
from generated.user.models import TrackBehaviorRequest, UserProfile
from runtime.bus.base import Subscription
from runtime.http import ProblemError
from services.admin.service import definition as admin
from services.analytics.service import definition as analytics
from services.artisan.domain import TierRule
from services.artisan.service import definition as artisan
from services.auth.service import definition as auth
from services.calendar.service import definition as calendar
from services.chat.service import definition as chat
from services.cms.service import definition as cms
from services.gateway.config import SERVICES as BEHIND_GATEWAY
from services.gateway.config import GatewayConfig
from services.gateway.service import definition as gateway
from services.geo.service import definition as geo
from services.inventory.service import definition as inventory
from services.loyalty.domain import points_for
from services.loyalty.service import definition as loyalty
from services.notification.service import definition as notification
from services.notification.templates import euros
from services.order.service import definition as order
from services.payment.service import definition as payment
from services.product.service import definition as product
from services.recommendation.service import definition as recommendation
from services.shipping.service import definition as shipping
from services.user.service import definition as user
from tests.e2e.harness import InProcessPlatform, eventually
from tests.e2e.marketplace_story import (
    Gateway,
    Member,
    NotificationStream,
    Published,
    handled_by,
    published,
    receivers,
    stream_positions,
)

SEED_EVENTS = (
    "OrderCreated",
    "OrderStateChanged",
    "OrderDelivered",
    "StockReserved",
    "StockThresholdReached",
    "StockReleased",
    "PaymentInitiated",
    "PaymentSucceeded",
    "PaymentFailed",
    "PaymentSplitCreated",
    "UserRegistered",
    "UserBehaviorTracked",
    "UserSegmentChanged",
    "ArtisanVerified",
    "NewProductListed",
    "ArtisanPerformanceEvaluated",
)
SLOW = 30.0
"""Seconds to wait for an outcome several services away (the saga, a delivery)."""


def _subscriptions() -> dict[str, tuple[Subscription, ...]]:
    """Each service's receive operations, as generated from its contracts."""
    found: dict[str, tuple[Subscription, ...]] = {}
    for service in DEFAULT_SERVICES:
        try:
            module = importlib.import_module(f"generated.{service}.events")
        except ModuleNotFoundError:  # REST only (admin, geo)
            continue
        found[service] = tuple(module.SUBSCRIPTIONS)
    return found


def _seed_subjects() -> dict[str, str]:
    """Seed event name -> its subject, from the channels the services send or receive on."""
    subjects = {
        sub.channel.message: sub.channel.subject
        for subs in _subscriptions().values()
        for sub in subs
    }
    return {name: subjects[name] for name in SEED_EVENTS}


@pytest.fixture(scope="module")
async def marketplace(
    nats_url: str, database_url: str, redis_url: str, postgres_server: ServerHandle
) -> AsyncIterator[tuple[InProcessPlatform, str]]:
    """All 18 services; yields the platform and the bootstrap admin's `email:password`."""
    # 18 services' pools outgrow PostgreSQL's default 100 connections, as under `make run`:
    # raise an embedded server's limit the launcher's way (between modules, nothing is open).
    await asyncio.to_thread(make_room, postgres_server, len(DEFAULT_SERVICES))
    run = uuid.uuid4().hex[:10]
    bootstrap = f"admin-{run}@a4co.test:admin-password-{run}"

    def edge(urls: dict[str, str]) -> Any:
        upstreams = {name: urls[name] for name in BEHIND_GATEWAY}
        return gateway(
            GatewayConfig(
                upstreams=upstreams, rate_limit="1000/second", namespace=f"a4co:test:{run}"
            )
        )

    definitions: dict[str, Any] = {
        "auth": lambda urls: auth(bootstrap_admin=bootstrap),
        "gateway": edge,
        "user": lambda urls: user(),
        "artisan": lambda urls: artisan(geo_url=urls["geo"], rule=TierRule(premium_orders=1)),
        "product": lambda urls: product(),
        "inventory": lambda urls: inventory(expiry_interval=0.5),
        "order": lambda urls: order(user_url=urls["user"], scan_interval=0.2),
        "payment": lambda urls: payment(),
        "shipping": lambda urls: shipping(),
        "notification": lambda urls: notification(),
        "chat": lambda urls: chat(user_url=urls["user"]),
        "geo": lambda urls: geo(),
        "loyalty": lambda urls: loyalty(),
        "analytics": lambda urls: analytics(),
        "admin": lambda urls: admin(artisan_url=urls["artisan"]),
        "cms": lambda urls: cms(),
        "calendar": lambda urls: calendar(),
        "recommendation": lambda urls: recommendation(),
    }
    assert sorted(definitions) == sorted(DEFAULT_SERVICES)
    running = InProcessPlatform(
        nats_url, database_url, verifier=None, redis_url=redis_url, jwks_from="auth"
    )
    try:
        await running.start(definitions)
        yield running, bootstrap
    finally:
        await running.stop()


@dataclass
class Story:
    """What happened, for the tests to check."""

    artisan: Member
    customer: Member
    admin_token: str
    artisan_id: UUID
    product_id: UUID
    delivered: Order
    declined: Order
    profile: UserProfile
    points: int
    dashboard_before: AnalyticsDashboard
    dashboard_after: AnalyticsDashboard
    recommendations: RecommendationList
    categories: dict[UUID, str]
    notifications: NotificationStream
    positions: dict[str, int]
    ids: set[UUID] = field(default_factory=set)
    seconds: float = 0.0


@pytest.fixture(scope="module")
async def story(marketplace: tuple[InProcessPlatform, str]) -> AsyncIterator[Story]:
    """Tell the story (see the module docstring) through the gateway; yield what happened."""
    running, bootstrap = marketplace
    assert running.nc is not None
    started = time.monotonic()
    positions = await stream_positions(running.nc.jetstream(), [s.name for s in STREAMS])
    gw = Gateway(running.url("gateway"))
    stream: NotificationStream | None = None
    try:
        # 1. The artisan registers, logs in and applies.
        maker = await gw.register("artisan", "Antonio Olivar")
        applied = await gw.client(ArtisanClient, "artisan", maker.token).apply_artisan(
            ArtisanApplication.model_validate(
                {
                    "user_id": maker.user_id,
                    "business_name": "Almazara Olivar",
                    "description": "Aceite de oliva virgen extra de la Sierra de Cazorla.",
                    "province": "jaen",
                    "categories": ["olive_oil"],
                }
            )
        )
        assert applied.status == "pending"

        # 2. The bootstrap admin logs in and verifies the artisan.
        admin_email, _, admin_password = bootstrap.partition(":")
        admin_token = await gw.log_in(admin_email, admin_password)
        verified = await gw.client(ArtisanClient, "artisan", admin_token).verify_artisan(
            applied.artisan_id, VerifyArtisanRequest(verification_level="basic")
        )
        assert verified.status == "active"

        # 3. The artisan lists an olive oil: 5 units, low stock below 3.
        listed = await gw.client(ArtisanClient, "artisan", maker.token).list_product(
            applied.artisan_id,
            ProductListingRequest.model_validate(
                {
                    "name": f"Aceite picual Olivar {uuid.uuid4().hex[:6]}",
                    "description": "Virgen extra, cosecha temprana, 500 ml.",
                    "category": "olive_oil",
                    "price": {"amount_minor": 1250, "currency": "EUR"},
                    "initial_stock": 5,
                    "stock_threshold": 3,
                }
            ),
        )

        # 4. A customer registers, logs in, opens the live stream, searches and views.
        customer = await gw.register("customer", "Carmen Ruiz")
        stream = NotificationStream(gw, customer)
        await stream.open()
        catalogue = gw.client(ProductClient, "product", customer.token)

        async def found() -> bool:
            page = await catalogue.search_products(q="picual", category="olive_oil", limit=100)
            return any(p.product_id == listed.product_id for p in page.items)

        await eventually(found, timeout=SLOW, interval=0.2)
        tracking = gw.client(UserClient, "user", customer.token)
        await tracking.track_behavior(
            customer.user_id, TrackBehaviorRequest(action="searched", query="picual")
        )
        shown = await catalogue.get_product(listed.product_id)
        assert (shown.available, shown.artisan_id) == (5, applied.artisan_id)
        await tracking.track_behavior(
            customer.user_id,
            TrackBehaviorRequest(
                action="viewed_product", product_id=listed.product_id, category="olive_oil"
            ),
        )
        dashboards = gw.client(AnalyticsClient, "analytics", admin_token)
        dashboard_before = await dashboards.get_dashboard()

        # 5. The customer orders 3 units and pays: the order is confirmed.
        orders = gw.client(OrderClient, "order", customer.token)
        first = await orders.place_order(
            PlaceOrderRequest.model_validate(
                {
                    "customer_id": customer.user_id,
                    "items": [{"product_id": listed.product_id, "quantity": 3}],
                    "delivery": {
                        "method": "standard",
                        "address": {
                            "line1": "Calle Maestra 12",
                            "city": "Jaén",
                            "postal_code": "23002",
                            "province": "jaen",
                        },
                    },
                    "card_token": "tok_visa_ok",
                }
            )
        )
        await _order_becomes(orders, first.order_id, "confirmed")

        # 6. A second order, with a declined card: cancelled, its unit released.
        second = await orders.place_order(
            PlaceOrderRequest.model_validate(
                {
                    "customer_id": customer.user_id,
                    "items": [{"product_id": listed.product_id, "quantity": 1}],
                    "delivery": {"method": "pickup"},
                    "card_token": "tok_declined",
                }
            )
        )
        declined = await _order_becomes(orders, second.order_id, "cancelled")

        # 7. The artisan dispatches and delivers the shipment: the order is delivered.
        shipments = gw.client(ShippingClient, "shipping", maker.token)

        async def shipment_id() -> UUID | None:
            items = (await shipments.list_shipments(order_id=first.order_id)).items
            return items[0].shipment_id if items else None

        shipment = await eventually(shipment_id, timeout=SLOW, interval=0.2)
        await shipments.dispatch_shipment(
            shipment, DispatchShipmentRequest(carrier="Correos", dispatched_at=datetime.now(UTC))
        )
        await shipments.deliver_shipment(
            shipment, DeliverShipmentRequest(delivered_at=datetime.now(UTC))
        )
        delivered = await _order_becomes(orders, first.order_id, "delivered")

        # Afterwards: points, segment, dashboard, recommendations, as the customer sees them.
        accounts = gw.client(LoyaltyClient, "loyalty", customer.token)
        expected_points = points_for(delivered.total.amount_minor)

        async def points() -> int | None:
            balance = (await accounts.get_loyalty_account(customer.user_id)).balance
            return balance if balance == expected_points else None

        awarded = await eventually(points, timeout=SLOW, interval=0.2)

        async def segmented() -> UserProfile | None:
            profile = await tracking.get_profile(customer.user_id)
            return profile if profile.delivered_orders == 1 else None

        profile = await eventually(segmented, timeout=SLOW, interval=0.2)

        async def counted() -> AnalyticsDashboard | None:
            after = await dashboards.get_dashboard()
            grew = (
                after.revenue.amount_minor
                >= (dashboard_before.revenue.amount_minor + delivered.total.amount_minor)
                and after.orders_today >= dashboard_before.orders_today + 2
            )
            return after if grew else None

        dashboard_after = await eventually(counted, timeout=SLOW, interval=0.2)
        recommendations = await gw.client(
            RecommendationClient, "recommendation", customer.token
        ).get_recommendations(customer.user_id)
        categories = await _categories(catalogue, [i.product_id for i in recommendations.items])
        ids = {
            maker.user_id,
            applied.artisan_id,
            customer.user_id,
            listed.product_id,
            first.order_id,
            second.order_id,
        }
        yield Story(
            artisan=maker,
            customer=customer,
            admin_token=admin_token,
            artisan_id=applied.artisan_id,
            product_id=listed.product_id,
            delivered=delivered,
            declined=declined,
            profile=profile,
            points=awarded,
            dashboard_before=dashboard_before,
            dashboard_after=dashboard_after,
            recommendations=recommendations,
            categories=categories,
            notifications=stream,
            positions=positions,
            ids=ids,
            seconds=time.monotonic() - started,
        )
    finally:
        if stream is not None:
            await stream.close()
        await gw.aclose()


async def _categories(catalogue: ProductClient, products: list[UUID]) -> dict[UUID, str]:
    """The category of each product the public catalogue shows (other tests' products, listed
    straight on the bus for artisans never verified, are not shown)."""
    found: dict[UUID, str] = {}
    for product_id in products:
        try:
            found[product_id] = (await catalogue.get_product(product_id)).category
        except ProblemError as exc:
            if exc.status != 404:
                raise
    return found


async def _order_becomes(orders: OrderClient, order_id: UUID, status: str) -> Order:
    async def check() -> Order | None:
        current = await orders.get_order(order_id)
        return current if current.status == status else None

    found: Order = await eventually(check, timeout=SLOW, interval=0.2)
    return found


async def test_the_customers_order_is_delivered_and_rewarded(story: Story) -> None:
    assert story.delivered.status == "delivered"
    assert [(i.product_id, i.quantity) for i in story.delivered.items] == [(story.product_id, 3)]
    assert story.points == points_for(story.delivered.total.amount_minor) > 0
    assert (story.profile.delivered_orders, story.profile.segment) == (1, "occasional")


async def test_the_declined_card_cancels_the_second_order(story: Story) -> None:
    assert (story.declined.status, story.declined.cancel_reason) == (
        "cancelled",
        "payment_failed",
    )


async def test_the_admin_dashboard_counts_the_orders(story: Story) -> None:
    before, after = story.dashboard_before, story.dashboard_after
    assert after.orders_today >= before.orders_today + 2
    assert after.revenue.amount_minor >= (
        before.revenue.amount_minor + story.delivered.total.amount_minor
    )


async def test_recommendations_include_the_category_the_customer_bought(story: Story) -> None:
    assert story.recommendations.user_id == story.customer.user_id
    assert "olive_oil" in story.categories.values()


async def test_the_live_stream_told_the_customer_about_the_order(story: Story) -> None:
    async def told() -> list[str]:
        texts = [
            n.text
            for n in story.notifications.received
            if n.template == "order_state_changed" and n.user_id == story.customer.user_id
        ]
        return texts if "Tu pedido está entregado." in texts else []

    texts = await eventually(told, timeout=SLOW)
    assert "Tu pedido está pendiente de pago." in texts and "Tu pedido está enviado." in texts
    # the confirmation is told by its receipt alone, not also as a status
    assert "Tu pedido está confirmado." not in texts
    assert all(n.user_id == story.customer.user_id for n in story.notifications.received)
    assert {n.channel for n in story.notifications.received} == {"realtime"}


ORDER_NOTICES = Counter(
    {
        # the app's status feed, one notice per status an order rests in but confirmed
        # (its receipt tells it): 3 of the delivered order (payment_pending, shipped,
        # delivered), 2 of the declined one (payment_pending, cancelled)
        ("order_state_changed", "realtime"): 5,
        # each outward notice, and its copy in the app
        ("order_confirmed", "email"): 1,
        ("order_confirmed", "realtime"): 1,
        ("order_cancelled", "email"): 1,
        ("order_cancelled", "realtime"): 1,
        ("shipment_created", "email"): 1,
        ("shipment_created", "realtime"): 1,
        ("shipment_dispatched", "push"): 1,
        ("shipment_dispatched", "realtime"): 1,
        ("shipment_delivered", "push"): 1,
        ("shipment_delivered", "realtime"): 1,
        ("order_delivered", "push"): 1,
        ("order_delivered", "realtime"): 1,
    }
)
"""What the customer hears of the two orders: no notice of the order's creation or of its
payment's steps (the receipt is the confirmation email; a declined card, the cancellation's)."""


async def test_the_customer_hears_of_each_fact_of_the_orders_once(
    story: Story, marketplace: tuple[InProcessPlatform, str]
) -> None:
    running, _ = marketplace
    assert running.nc is not None
    customer = story.customer.user_id
    own = Gateway(running.url("gateway"))
    try:
        listing = own.client(NotificationClient, "notification", story.customer.token)
        outbox = own.client(NotificationClient, "notification", story.admin_token)

        async def heard() -> Counter[tuple[str, str]] | None:
            listed = await listing.list_notifications(user_id=customer, limit=100)
            found = Counter(
                (n.template, n.channel)
                for n in listed.items
                if n.related_subject.split(".")[0] in ("order", "payment", "shipping")
            )
            return found if found >= ORDER_NOTICES else None

        assert await eventually(heard, timeout=SLOW, interval=0.2) == ORDER_NOTICES
        emails = {
            e.template: e.body
            for e in (await outbox.list_dev_outbox(user_id=customer, channel="email")).items
        }
    finally:
        await own.aclose()
    paid = euros(Money.model_validate(story.delivered.total.model_dump()))
    assert f"Hemos recibido tu pago de {paid}" in emails["order_confirmed"]
    assert "el pago no se completó" in emails["order_cancelled"]

    outward = Counter({k: n for k, n in ORDER_NOTICES.items() if k[1] != "realtime"})

    async def announced() -> Counter[tuple[str, str]] | None:
        stored = await published(
            running.nc.jetstream(),
            "NOTIFICATION",
            "notification.sent.v1",
            story.positions["NOTIFICATION"],
        )
        sent = [NotificationSent.model_validate(m.payload) for m in stored]
        mine = Counter((n.template, n.channel) for n in sent if n.user_id == customer)
        return mine if mine >= outward else None

    mine = await eventually(announced, timeout=SLOW, interval=0.5)
    assert all(channel != "realtime" for _, channel in mine)  # in-app ones are not announced
    templates = {template for template, _ in ORDER_NOTICES}
    assert Counter({k: n for k, n in mine.items() if k[0] in templates}) == outward


async def test_each_seed_event_was_published_and_reached_every_receiver(
    story: Story, marketplace: tuple[InProcessPlatform, str]
) -> None:
    running, _ = marketplace
    assert running.nc is not None
    js = running.nc.jetstream()
    subjects, takers = _seed_subjects(), receivers(_subscriptions())
    stream_of = {
        sub.channel.subject: sub.stream for subs in _subscriptions().values() for sub in subs
    }
    messages: dict[str, list[Published]] = {}
    for name, subject in subjects.items():
        stored = await published(
            js, stream_of[subject], subject, story.positions[stream_of[subject]]
        )
        messages[name] = [m for m in stored if m.mentions(story.ids)]
    assert [name for name, found in messages.items() if not found] == []

    async def missing() -> list[tuple[str, str, int]]:
        gaps = []
        for name, found in messages.items():
            ids = {m.message_id for m in found}
            for service in sorted(takers[subjects[name]]):
                handled = await handled_by(running.database_url, service, ids)
                if ids - handled:
                    gaps.append((name, service, len(ids - handled)))
        return gaps

    async def none_missing() -> bool:
        return not await missing()

    try:
        await eventually(none_missing, timeout=SLOW, interval=0.5)
    except AssertionError:
        pytest.fail(f"(event, receiver, messages not handled): {await missing()}")
    assert sum(len(takers[s]) for s in subjects.values()) >= len(SEED_EVENTS)
