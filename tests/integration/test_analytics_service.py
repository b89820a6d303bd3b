"""The analytics service in-process on the session's real NATS and PostgreSQL.

Events are published as their senders would (the senders' generated publishers on the
bus). Every test uses its own far-off day, and moves the service's clock to it for the
dashboard, because the `analytics` schema and the durable consumers are shared with the
rest of the session (whose events the service projects too).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client

from generated.analytics.events import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    STOCK_THRESHOLD_REACHED,
    SUBSCRIPTIONS,
)
from generated.analytics.models import (
    AnalyticsDashboard,
    AnalyticsOrdersPerDay,
    StockThresholdReached,
)
from generated.analytics.models import OrderCancelled as AnalyticsOrderCancelled
from generated.analytics.models import OrderConfirmed as AnalyticsOrderConfirmed
from generated.analytics.models import OrderCreated as AnalyticsOrderCreated
from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import Money, NewProductListed
from generated.order.events import Publisher as OrderPublisher
from generated.order.models import OrderConfirmed, OrderCreated
from generated.platform import STREAMS
from generated.user.events import Publisher as UserPublisher
from generated.user.models import UserBehaviorTracked, UserRegistered
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.analytics.domain import MADRID
from services.analytics.handlers import AnalyticsHandlers
from services.analytics.service import NAME, definition
from services.analytics.tables import AnalyticsTables
from services.analytics.watermarks import Watermarks
from tests.conftest import context_of
from tests.e2e.harness import eventually

BASE = "http://analytics.test"
EUR = "EUR"


@dataclass
class Running:
    """The running service, an admin's and a customer's client, and the test's connections."""

    host: ServiceHost
    http: httpx.AsyncClient
    admin: dict[str, str]
    customer: dict[str, str]
    nc: Client
    db: Any

    @property
    def handlers(self) -> AnalyticsHandlers:
        """The service's handlers, to call directly as a consumer would."""
        assert self.host.context is not None
        return AnalyticsHandlers(self.host.context, AnalyticsTables(NAME))

    @property
    def orders(self) -> OrderPublisher:
        """Publishes as the order service does."""
        return OrderPublisher(NatsEventSink(self.nc))

    @property
    def users(self) -> UserPublisher:
        """Publishes as the user service does."""
        return UserPublisher(NatsEventSink(self.nc))

    def today_is(self, day: date) -> None:
        """Move the service's clock to noon of `day` in Madrid."""
        assert self.host.context is not None
        self.host.context.clock = lambda: at(day, 12)

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether the service's inbox holds `message_id` for `consumer`."""
        return bool(
            await self.db.fetchval(
                f'SELECT EXISTS (SELECT 1 FROM "{NAME}".inbox'
                " WHERE consumer = $1 AND message_id = $2)",
                f"{NAME}.{consumer}",
                message_id,
            )
        )

    async def dashboard(self) -> AnalyticsDashboard:
        """GET /dashboard as an admin."""
        response = await self.http.get("/dashboard", headers=self.admin)
        assert response.status_code == 200, response.text
        return AnalyticsDashboard.model_validate(response.json())

    async def per_day(self, first: date, last: date) -> AnalyticsOrdersPerDay:
        """GET /kpis/orders-per-day as an admin."""
        response = await self.http.get(
            "/kpis/orders-per-day",
            params={"from": first.isoformat(), "to": last.isoformat()},
            headers=self.admin,
        )
        assert response.status_code == 200, response.text
        return AnalyticsOrdersPerDay.model_validate(response.json())


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The analytics service, started once for the module, with test-signed tokens."""
    key = SigningKey.generate()
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=key)
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    db = await asyncpg.connect(database_url)
    admin = {"Authorization": f"Bearer {key.issue(uuid.uuid4(), roles=['admin'])}"}
    customer = {"Authorization": f"Bearer {key.issue(uuid.uuid4(), roles=['customer'])}"}
    try:
        yield Running(host, http, admin, customer, nc, db)
    finally:
        await db.close()
        await http.aclose()
        await nc.close()
        await host.stop()


def a_day() -> date:
    """A day no other test uses, far from today."""
    return date(2200, 1, 1) + timedelta(days=random.randrange(100_000))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """`hour`:`minute` of `day` in Madrid."""
    return datetime.combine(day, time(hour, minute), tzinfo=MADRID)


def eur(amount_minor: int) -> dict[str, Any]:
    """A Money body."""
    return {"amount_minor": amount_minor, "currency": EUR}


@dataclass(frozen=True)
class Order:
    """One order's two events, for `customer_id`, placed and confirmed at given times."""

    created: OrderCreated
    confirmed: OrderConfirmed


def an_order(
    placed_at: datetime,
    *,
    customer_id: UUID | None = None,
    lines: tuple[tuple[UUID, int, int], ...] | None = None,
) -> Order:
    """An order of `lines` (product, quantity, unit price), confirmed a minute after placing."""
    order_id, customer = uuid.uuid4(), customer_id or uuid.uuid4()
    lines = lines or ((uuid.uuid4(), 2, 1250),)
    items = [
        {"product_id": p, "artisan_id": uuid.uuid4(), "quantity": q, "unit_price": eur(price)}
        for p, q, price in lines
    ]
    total = sum(q * price for _, q, price in lines)
    delivery = {"method": "pickup"}
    created = OrderCreated.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "items": items,
            "subtotal": eur(total),
            "delivery_fee": eur(0),
            "total": eur(total),
            "delivery": delivery,
            "placed_at": placed_at,
        }
    )
    confirmed = OrderConfirmed.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer,
            "payment_id": uuid.uuid4(),
            "items": items,
            "total": eur(total),
            "delivery": delivery,
            "confirmed_at": placed_at + timedelta(minutes=1),
        }
    )
    return Order(created, confirmed)


async def place(service: Running, order: Order) -> tuple[str, str]:
    """Publish the order's OrderCreated and OrderConfirmed; their message ids."""
    aggregate = str(order.created.order_id)
    created = await service.orders.order_created(order.created, aggregate_id=aggregate)
    confirmed = await service.orders.order_confirmed(order.confirmed, aggregate_id=aggregate)
    return created, confirmed


async def figures(service: Running, day: date) -> tuple[int, int]:
    """Orders and revenue (minor units) of `day`."""
    (entry,) = (await service.per_day(day, day)).days
    return entry.orders, entry.revenue.amount_minor


async def test_duplicate_order_events_count_the_order_and_its_revenue_once(
    service: Running,
) -> None:
    day = a_day()
    order = an_order(at(day, 10), lines=((uuid.uuid4(), 3, 1000), (uuid.uuid4(), 1, 2599)))
    aggregate = str(order.created.order_id)

    created_id, confirmed_id = await place(service, order)
    # The same message again (JetStream drops it) and the same facts under a new id.
    await service.orders.order_created(order.created, aggregate_id=aggregate, message_id=created_id)
    again = await service.orders.order_confirmed(order.confirmed, aggregate_id=aggregate)
    await eventually(lambda: service.handled("on_order_confirmed", again))
    await eventually(lambda: service.handled("on_order_created", created_id))
    # A redelivery that got past JetStream: the inbox must stop it.
    handlers = service.handlers
    await handlers.on_order_created(
        AnalyticsOrderCreated.model_validate(order.created.model_dump()),
        context_of(ORDER_CREATED, aggregate, created_id),
    )
    await handlers.on_order_confirmed(
        AnalyticsOrderConfirmed.model_validate(order.confirmed.model_dump()),
        context_of(ORDER_CONFIRMED, aggregate, confirmed_id),
    )

    assert await service.handled("on_order_confirmed", confirmed_id)
    assert await figures(service, day) == (1, 5599)


async def test_confirmation_arriving_before_creation_keeps_the_revenue(
    service: Running,
) -> None:
    day = a_day()
    order = an_order(at(day, 18))
    aggregate = str(order.created.order_id)

    await service.orders.order_confirmed(order.confirmed, aggregate_id=aggregate)
    await eventually(lambda: _revenue_is(service, day, 2500))
    await service.orders.order_created(order.created, aggregate_id=aggregate)
    await eventually(lambda: _orders_are(service, day, 1))

    assert await figures(service, day) == (1, 2500)


async def test_a_confirmation_records_when_the_order_entered_confirmed(
    service: Running,
) -> None:
    # Order announces the move to confirmed by OrderConfirmed alone (no OrderStateChanged).
    order = an_order(at(a_day(), 11))
    order_id = order.created.order_id
    _, confirmed_id = await place(service, order)
    await eventually(lambda: service.handled("on_order_confirmed", confirmed_id))

    rows = await service.db.fetch(
        f'SELECT status, entered_at FROM "{NAME}".order_statuses WHERE order_id = $1', order_id
    )
    assert [(r["status"], r["entered_at"]) for r in rows] == [
        ("confirmed", order.confirmed.confirmed_at)
    ]


async def _revenue_is(service: Running, day: date, amount_minor: int) -> bool:
    return (await figures(service, day))[1] == amount_minor


async def _orders_are(service: Running, day: date, orders: int) -> bool:
    return (await figures(service, day))[0] == orders


async def test_orders_per_day_counts_each_order_on_its_madrid_day(service: Running) -> None:
    first = a_day()
    last = first + timedelta(days=2)
    late_evening_utc = datetime.combine(first + timedelta(days=1), time(23, 30), tzinfo=UTC)
    orders = [an_order(at(first, 9)), an_order(at(first, 21)), an_order(late_evening_utc)]

    for order in orders:
        await place(service, order)
    await eventually(lambda: _orders_are(service, last, 1))
    await eventually(lambda: _orders_are(service, first, 2))
    await eventually(lambda: _revenue_is(service, last, 2500))

    series = await service.per_day(first, last)
    assert (series.from_date, series.to_date) == (first, last)
    assert [(d.date, d.orders, d.revenue.amount_minor) for d in series.days] == [
        (first, 2, 5000),
        (first + timedelta(days=1), 0, 0),
        (last, 1, 2500),
    ]
    assert {d.revenue.currency for d in series.days} == {EUR}


async def test_conversion_is_the_share_of_the_days_visitors_who_ordered(
    service: Running,
) -> None:
    day = a_day()
    viewers = [uuid.uuid4() for _ in range(3)]
    carter, stranger = uuid.uuid4(), uuid.uuid4()
    actions = [(u, "viewed_product") for u in [*viewers, viewers[0]]] + [(carter, "added_to_cart")]
    for user_id, action in actions:
        event = {"user_id": user_id, "action": action, "product_id": uuid.uuid4()}
        await service.users.user_behavior_tracked(
            UserBehaviorTracked.model_validate(
                {**event, "category": "cheese", "tracked_at": at(day, 11)}
            ),
            aggregate_id=str(user_id),
        )
    for customer in (viewers[0], stranger):
        await place(service, an_order(at(day, 12), customer_id=customer))
    for n in range(2):
        user_id = uuid.uuid4()
        await service.users.user_registered(
            UserRegistered(
                user_id=user_id,
                email=f"r{n}{user_id.hex}@example.com",
                full_name="Rocío Jiménez",
                role="customer",
                province="jaen",
                registered_at=at(day, 8),
            ),
            aggregate_id=str(user_id),
        )
    service.today_is(day)

    async def settled() -> bool:
        board = await service.dashboard()
        seen = (board.orders_today, board.visitors_today, board.registrations_today)
        return seen == (2, 4, 2) and board.revenue.amount_minor == 5000

    await eventually(settled)
    board = await service.dashboard()
    assert board.conversion_rate_bp == 2500  # one of four visitors ordered
    assert board.as_of is not None


async def test_dashboard_ranks_the_days_best_sellers_by_units_with_their_names(
    service: Running,
) -> None:
    day = a_day()
    oil, bowl = uuid.uuid4(), uuid.uuid4()
    artisans = ArtisanPublisher(NatsEventSink(service.nc))
    await artisans.new_product_listed(
        NewProductListed(
            product_id=oil,
            artisan_id=uuid.uuid4(),
            name="AOVE Picual 500 ml",
            description="Cosecha temprana.",
            category="olive_oil",
            price=Money(amount_minor=1250, currency="EUR"),
            initial_stock=50,
            stock_threshold=5,
            province="jaen",
            listed_at=at(day, 7),
        ),
        aggregate_id=str(oil),
    )
    await place(service, an_order(at(day, 10), lines=((bowl, 1, 2900), (oil, 2, 1250))))
    await place(service, an_order(at(day, 11), lines=((oil, 3, 1250),)))
    service.today_is(day)

    async def ranked() -> bool:
        top = (await service.dashboard()).top_products
        return [(p.product_id, p.units_sold) for p in top] == [(oil, 5), (bowl, 1)] and (
            top[0].name == "AOVE Picual 500 ml"
        )

    await eventually(ranked)
    top = (await service.dashboard()).top_products
    assert [p.revenue.amount_minor for p in top] == [6250, 2900]


async def test_only_admins_read_the_kpis(service: Running) -> None:
    day = a_day()
    query = {"from": day.isoformat(), "to": day.isoformat()}

    as_customer = await service.http.get("/dashboard", headers=service.customer)
    series_as_customer = await service.http.get(
        "/kpis/orders-per-day", params=query, headers=service.customer
    )
    anonymous = await service.http.get("/dashboard")
    as_admin = await service.http.get("/kpis/orders-per-day", params=query, headers=service.admin)

    assert as_customer.status_code == 403
    assert series_as_customer.status_code == 403
    assert anonymous.status_code == 401
    assert as_admin.status_code == 200


async def test_an_interval_ending_before_it_starts_is_unprocessable(service: Running) -> None:
    day = a_day()
    params = {"from": day.isoformat(), "to": (day - timedelta(days=1)).isoformat()}
    too_long = {"from": day.isoformat(), "to": (day + timedelta(days=366)).isoformat()}

    backwards = await service.http.get("/kpis/orders-per-day", params=params, headers=service.admin)
    long = await service.http.get("/kpis/orders-per-day", params=too_long, headers=service.admin)

    assert backwards.status_code == 422
    assert long.status_code == 422
    assert "before" in backwards.json()["detail"]


async def test_the_watermark_moves_after_the_commit_and_is_stored_in_one_write(
    service: Running,
) -> None:
    order = an_order(at(a_day(), 10))
    aggregate = str(order.created.order_id)
    # An event time later than any stored one (an external database keeps earlier runs'),
    # so it is the newest watermark.
    stored_before = await service.db.fetchval(f'SELECT max(as_of) FROM "{NAME}".watermarks')
    floor = datetime(2999, 1, 1, tzinfo=UTC)
    future = max(stored_before or floor, floor) + timedelta(days=1, seconds=random.randrange(999))
    context = replace(context_of(ORDER_CREATED, aggregate, str(uuid.uuid4())), time=future)
    await service.handlers.on_order_created(
        AnalyticsOrderCreated.model_validate(order.created.model_dump()), context
    )
    board = await service.dashboard()
    assert board.as_of == future, "the dashboard reads the watermark held in memory"
    assert service.host.context is not None
    await Watermarks.of(service.host.context, AnalyticsTables(NAME)).store(service.host.context)
    stored = await service.db.fetchval(f'SELECT max(as_of) FROM "{NAME}".watermarks')
    assert stored == future


def threshold(product_id: UUID, reached_at: datetime) -> StockThresholdReached:
    """A low-stock alert of `product_id`."""
    return StockThresholdReached.model_validate(
        {
            "product_id": product_id,
            "artisan_id": uuid.uuid4(),
            "level": 1,
            "threshold": 5,
            "reached_at": reached_at,
        }
    )


async def tallies(service: Running, day: date, metric: str) -> dict[str, tuple[int, int]]:
    """The `daily_counts` rows of `metric` on `day`: key -> (count, amount)."""
    rows = await service.db.fetch(
        f'SELECT key, count, amount FROM "{NAME}".daily_counts WHERE day = $1 AND metric = $2',
        day,
        metric,
    )
    return {row["key"]: (row["count"], row["amount"]) for row in rows}


async def test_a_unit_of_many_messages_adds_up_each_days_tally_and_skips_its_duplicates(
    service: Running,
) -> None:
    day = a_day()
    often, once = uuid.uuid4(), uuid.uuid4()
    ids = [str(uuid.uuid4()) for _ in range(4)]
    messages = [(often, ids[0]), (once, ids[1]), (often, ids[2]), (often, ids[3]), (often, ids[0])]
    contexts = [context_of(STOCK_THRESHOLD_REACHED, str(p), i) for p, i in messages]
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "on_stock_threshold_reached"]
    assert service.host.context is not None
    async with service.host.context.unit_of_work(subscription, contexts[:4]):
        for (product, _), context in zip(messages, contexts, strict=True):
            await service.handlers.on_stock_threshold_reached(
                threshold(product, at(day, 9)), context
            )

    assert await tallies(service, day, "stock_threshold") == {str(often): (3, 0), str(once): (1, 0)}


async def test_a_unit_that_fails_adds_nothing_to_the_tallies(service: Running) -> None:
    day = a_day()
    product = uuid.uuid4()
    context = context_of(STOCK_THRESHOLD_REACHED, str(product), str(uuid.uuid4()))
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "on_stock_threshold_reached"]
    assert service.host.context is not None
    with pytest.raises(RuntimeError, match="the next handler failed"):
        async with service.host.context.unit_of_work(subscription, [context]):
            await service.handlers.on_stock_threshold_reached(
                threshold(product, at(day, 9)), context
            )
            raise RuntimeError("the next handler failed")

    assert await tallies(service, day, "stock_threshold") == {}
    assert not await service.handled("on_stock_threshold_reached", context.id)


async def test_a_unit_writes_each_orders_rows_once_merged_as_one_message_at_a_time_would(
    service: Running,
) -> None:
    # Rows a unit only writes (statuses, lines, visits) wait for its commit, merged per key:
    # the earliest entry into a status, the first copy of a line, every visit flag.
    day = a_day()
    order = an_order(at(day, 10), lines=((uuid.uuid4(), 2, 700), (uuid.uuid4(), 1, 300)))
    late = order.confirmed.model_copy(update={"confirmed_at": at(day, 11)})
    copies = [order.confirmed, late, order.confirmed]
    contexts = [
        context_of(ORDER_CONFIRMED, str(order.created.order_id), str(uuid.uuid4())) for _ in copies
    ]
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "on_order_confirmed"]
    assert service.host.context is not None
    async with service.host.context.unit_of_work(subscription, contexts):
        for message, context in zip(copies, contexts, strict=True):
            await service.handlers.on_order_confirmed(
                AnalyticsOrderConfirmed.model_validate(message.model_dump()), context
            )
    created = context_of(ORDER_CREATED, str(order.created.order_id), str(uuid.uuid4()))
    (placing,) = [s for s in SUBSCRIPTIONS if s.handler == "on_order_created"]
    async with service.host.context.unit_of_work(placing, [created]):
        await service.handlers.on_order_created(
            AnalyticsOrderCreated.model_validate(order.created.model_dump()), created
        )

    order_id = order.created.order_id
    statuses = await service.db.fetch(
        f'SELECT status, entered_at FROM "{NAME}".order_statuses WHERE order_id = $1', order_id
    )
    assert [(r["status"], r["entered_at"]) for r in statuses] == [
        ("confirmed", order.confirmed.confirmed_at)
    ]
    lines = await service.db.fetch(
        f'SELECT line, quantity, unit_price_minor FROM "{NAME}".order_lines'
        " WHERE order_id = $1 ORDER BY line",
        order_id,
    )
    assert [tuple(r) for r in lines] == [(0, 2, 700), (1, 1, 300)]
    ordered = await service.db.fetchval(
        f'SELECT ordered FROM "{NAME}".visits WHERE day = $1 AND user_id = $2',
        day,
        order.created.customer_id,
    )
    assert ordered is True
    assert await figures(service, day) == (1, 1700)
    # The order's own row too: the first confirmation's time, kept when the creation came.
    row = await service.db.fetchrow(
        "SELECT customer_id, placed_at, total_minor, confirmed_at, cancel_reason"
        f' FROM "{NAME}".orders WHERE order_id = $1',
        order_id,
    )
    assert tuple(row) == (
        order.created.customer_id,
        order.created.placed_at,
        1700,
        order.confirmed.confirmed_at,
        None,
    )


async def test_a_unit_keeps_an_orders_first_cancellation_as_one_message_at_a_time_would(
    service: Running,
) -> None:
    day = a_day()
    order = an_order(at(day, 9))
    reasons = [("payment_failed", at(day, 9, 5)), ("customer_cancelled", at(day, 9, 1))]
    copies = [
        AnalyticsOrderCancelled(
            order_id=order.created.order_id,
            customer_id=order.created.customer_id,
            reason=reason,
            cancelled_at=when,
        )
        for reason, when in reasons
    ]
    contexts = [
        context_of(ORDER_CANCELLED, str(order.created.order_id), str(uuid.uuid4())) for _ in copies
    ]
    (subscription,) = [s for s in SUBSCRIPTIONS if s.handler == "on_order_cancelled"]
    assert service.host.context is not None
    async with service.host.context.unit_of_work(subscription, contexts):
        for message, context in zip(copies, contexts, strict=True):
            await service.handlers.on_order_cancelled(message, context)
    row = await service.db.fetchrow(
        f'SELECT customer_id, cancel_reason, cancelled_at, placed_at FROM "{NAME}".orders'
        " WHERE order_id = $1",
        order.created.order_id,
    )
    assert tuple(row) == (order.created.customer_id, "payment_failed", at(day, 9, 5), None)
