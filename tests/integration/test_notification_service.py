"""The notification service on real NATS, PostgreSQL and Redis, as two replicas.

Replicas A and B run the same definition on the same durable consumers; B is served by
a real uvicorn server, so its server-sent event streams are read over HTTP as a browser
would. Every test uses fresh users, because the schema and durables are session-wide.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg
import httpx
import nats
import pytest
import uvicorn
from nats.aio.client import Client

from generated.chat.events import Publisher as ChatPublisher
from generated.chat.models import ChatMessageSent
from generated.notification.client import NotificationClient
from generated.notification.events import (
    NOTIFICATION_SENT,
    ORDER_CANCELLED,
    ORDER_STATE_CHANGED,
    STOCK_THRESHOLD_REACHED,
    SUBSCRIPTIONS,
)
from generated.notification.models import (
    Notification,
    NotificationSent,
    OrderCancelled,
    OrderStateChanged,
    StockThresholdReached,
)
from generated.order.events import Publisher as OrderPublisher
from generated.order.models import OrderCancelled as OrderCancelledSent
from generated.order.models import OrderStateChanged as OrderStateChangedSent
from generated.platform import STREAMS
from generated.user.events import Publisher as UserPublisher
from generated.user.models import UserRegistered
from runtime.bus.base import MessageContext
from runtime.bus.envelope import request_context
from runtime.bus.memory import InMemoryEventSink
from runtime.bus.nats_publisher import NatsEventSink
from runtime.errors import ConfigurationError
from runtime.http import ProblemError
from runtime.http.auth import SigningKey
from runtime.service import ServiceContext, ServiceHost, Settings
from services.notification.channels import ChannelAdapter, DevEmailAdapter
from services.notification.handlers import NotificationHandlers
from services.notification.live import LiveFeed
from services.notification.notifier import WAIT_ATTEMPTS, Notifier, RecipientNotKnownYet
from services.notification.service import NAME, definition, feed_of
from services.notification.tables import NotificationTables
from tests.conftest import Schema
from tests.e2e.harness import bound_socket, eventually, start_uvicorn

KEY = SigningKey.generate()
HEARTBEAT = 0.3
ADMIN = KEY.issue(uuid.uuid4(), ["admin"], lifetime=86_400)  # issued at collection


@dataclass
class Replica:
    """One notification host, served over real HTTP."""

    host: ServiceHost
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    @property
    def feed(self) -> LiveFeed:
        """The replica's live feed."""
        assert self.host.context is not None
        return feed_of(self.host.context)

    async def stop(self) -> None:
        """Stop the host first (which ends open streams), then its HTTP server."""
        await self.host.stop()
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_replica(nats_url: str, database_url: str, redis_url: str) -> Replica:
    """A notification host with a short heartbeat, behind its own uvicorn server."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    settings = Settings(
        service=NAME,
        nats_url=nats_url,
        database_url=database_url,
        redis_url=redis_url,
        http_port=port,
    )
    host = ServiceHost(definition(heartbeat=HEARTBEAT), settings, STREAMS, verifier=KEY)
    server, task = start_uvicorn(await host.start(), sock)
    await eventually(lambda: server.started)
    replica = Replica(host, server, task, f"http://127.0.0.1:{port}")
    await eventually(replica.feed.listening.is_set)
    return replica


@dataclass
class Pair:
    """Replicas A and B, and a NATS connection and a database URL of the test's own."""

    a: Replica
    b: Replica
    nc: Client
    database_url: str

    @property
    def bus(self) -> NatsEventSink:
        """Publish as the owning services would."""
        return NatsEventSink(self.nc)

    def client(self, replica: Replica, token: str) -> NotificationClient:
        """A typed client of one replica, calling with `token`."""
        return NotificationClient(replica.url).with_token(token)

    async def announced(self, user_id: uuid.UUID) -> list[NotificationSent]:
        """The NotificationSent events of `user_id` in the service's outbox (its event store)."""
        connection = await asyncpg.connect(self.database_url)
        try:
            rows = await connection.fetch(
                "SELECT payload FROM notification.events WHERE subject = $1"
                " AND payload->>'user_id' = $2 ORDER BY position",
                NOTIFICATION_SENT.subject,
                str(user_id),
            )
        finally:
            await connection.close()
        return [NotificationSent.model_validate_json(r["payload"]) for r in rows]


@pytest.fixture(scope="module")
async def pair(nats_url: str, database_url: str, redis_url: str) -> AsyncIterator[Pair]:
    """Two replicas on the same durables, for the module."""
    a = await start_replica(nats_url, database_url, redis_url)
    b = await start_replica(nats_url, database_url, redis_url)
    nc = await nats.connect(nats_url)
    try:
        yield Pair(a, b, nc, database_url)
    finally:
        await nc.drain()
        await b.stop()
        await a.stop()


@dataclass
class Stream:
    """A client's open server-sent event stream, read in the background."""

    blocks: asyncio.Queue[list[str]] = field(default_factory=asyncio.Queue)

    async def next(self, *, comments: bool = False, timeout: float = 10.0) -> list[str]:
        """The next event block (lines up to a blank line); comment-only blocks if asked."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            block = await asyncio.wait_for(self.blocks.get(), max(left, 0.01))
            if comments or any(not line.startswith(":") for line in block):
                return block

    async def notification(self, template: str, timeout: float = 10.0) -> Notification:
        """The next `notification` event's data made with `template`."""
        while True:
            block = await self.next(timeout=timeout)
            if "event: notification" in block:
                data = next(line for line in block if line.startswith("data: "))
                found = Notification.model_validate_json(data.removeprefix("data: "))
                if found.template == template:
                    return found


@contextlib.asynccontextmanager
async def sse(replica: Replica, user_id: uuid.UUID, token: str) -> AsyncIterator[Stream]:
    """Open the user's stream on `replica`; yield once the server said it is connected."""
    stream = Stream()
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as http,
        http.stream(
            "GET", f"{replica.url}/stream/{user_id}", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        async def read() -> None:
            block: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    block.append(line)
                else:
                    await stream.blocks.put(block)
                    block = []
            await stream.blocks.put(["<closed>"])

        reader = asyncio.create_task(read())
        try:
            assert ": connected" in await stream.next(comments=True)
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


def context_of(subject: str) -> MessageContext:
    """The envelope a consumer would hand a handler."""
    return MessageContext(
        id=str(uuid.uuid4()),
        type=f"a4co.{subject}",
        source="/services/order",
        time=datetime.now(UTC),
        subject=str(uuid.uuid4()),
        correlation_id=str(uuid.uuid4()),
        bus_subject=subject,
    )


def state_changed(customer: uuid.UUID, to_status: str = "shipped") -> OrderStateChanged:
    """An order of `customer` moving to `to_status`."""
    return OrderStateChanged.model_validate(
        {
            "order_id": uuid.uuid4(),
            "customer_id": customer,
            "from_status": "confirmed",
            "to_status": to_status,
            "changed_at": datetime.now(UTC),
        }
    )


async def register(pair: Pair, **fields: Any) -> UserRegistered:
    """Announce a new user on the bus, as the user service would."""
    user = UserRegistered.model_validate(
        {
            "user_id": uuid.uuid4(),
            "email": f"u{uuid.uuid4().hex[:10]}@example.es",
            "full_name": "Lucía Martínez",
            "role": "customer",
            "province": "jaen",
            "registered_at": datetime.now(UTC),
            **fields,
        }
    )
    await UserPublisher(pair.bus).user_registered(user, aggregate_id=str(user.user_id))
    return user


async def test_client_on_replica_b_gets_a_notification_handled_by_replica_a(pair: Pair) -> None:
    customer = uuid.uuid4()
    assert pair.a.host.context is not None
    handlers_of_a = definition().handlers(pair.a.host.context)
    assert isinstance(handlers_of_a, NotificationHandlers)
    async with sse(pair.b, customer, KEY.issue(customer, ["customer"])) as stream:
        message = state_changed(customer)
        await handlers_of_a.on_order_state_changed(message, context_of(ORDER_STATE_CHANGED.subject))
        received = await stream.notification("order_state_changed")
    assert (received.user_id, received.channel) == (customer, "realtime")
    assert (received.template, received.text) == ("order_state_changed", "Tu pedido está enviado.")
    assert received.related_subject == "order.state_changed.v1"


async def test_event_on_the_bus_reaches_the_stream_and_the_list(pair: Pair) -> None:
    customer = uuid.uuid4()
    token = KEY.issue(customer, ["customer"])
    async with sse(pair.b, customer, token) as stream:
        message = state_changed(customer, "delivered")
        await OrderPublisher(pair.bus).order_state_changed(
            OrderStateChangedSent.model_validate(message.model_dump()),
            aggregate_id=str(message.order_id),
        )
        received = await stream.notification("order_state_changed")
    assert received.text == "Tu pedido está entregado."
    listed = await pair.client(pair.a, token).list_notifications(user_id=customer)
    assert [n.notification_id for n in listed.items] == [received.notification_id]


async def test_an_in_app_notification_is_stored_and_streamed_but_not_announced(
    pair: Pair,
) -> None:
    customer = uuid.uuid4()
    token = KEY.issue(customer, ["customer"])
    async with sse(pair.b, customer, token) as stream:
        message = state_changed(customer, "confirmed")
        await OrderPublisher(pair.bus).order_state_changed(
            OrderStateChangedSent.model_validate(message.model_dump()),
            aggregate_id=str(message.order_id),
        )
        received = await stream.notification("order_state_changed")
    listed = await pair.client(pair.a, token).list_notifications(user_id=customer)
    assert [(n.notification_id, n.channel) for n in listed.items] == [
        (received.notification_id, "realtime")
    ]
    assert await pair.announced(customer) == []  # written in the same transaction as the row


async def test_welcome_email_is_recorded_by_the_development_adapter(pair: Pair) -> None:
    user = await register(pair)
    admin = pair.client(pair.b, ADMIN)

    async def recorded() -> Any:
        return (await admin.list_dev_outbox(user_id=user.user_id, channel="email")).items

    (entry,) = await eventually(recorded)
    assert (entry.recipient, entry.template) == (user.email, "user_registered")
    assert entry.subject == "Bienvenida a A4CO"
    assert entry.body.startswith("Hola Lucía Martínez,")
    own = pair.client(pair.a, KEY.issue(user.user_id, ["customer"]))
    listed = (await own.list_notifications(user_id=user.user_id)).items
    assert sorted(n.channel for n in listed) == ["email", "realtime"]
    (announced,) = await pair.announced(user.user_id)  # the email only
    email = next(n for n in listed if n.channel == "email")
    assert (announced.notification_id, announced.channel) == (email.notification_id, "email")
    assert (announced.template, announced.related_subject) == (
        "user_registered",
        "user.registered.v1",
    )


async def test_chat_alert_is_pushed_only_while_the_recipient_is_offline(pair: Pair) -> None:
    sender, recipient = await register(pair), await register(pair, full_name="Juan Pérez")
    admin = pair.client(pair.a, ADMIN)
    chat = ChatPublisher(pair.bus)

    async def chat_message() -> None:
        message = ChatMessageSent(
            message_id=uuid.uuid4(),
            conversation_id=uuid.uuid4(),
            sender_id=sender.user_id,
            recipient_id=recipient.user_id,
            body="¿Te queda aceite picual?",
            sent_at=datetime.now(UTC),
        )
        await chat.chat_message_sent(message, aggregate_id=str(message.conversation_id))

    async def pushes() -> list[Any]:
        found = await admin.list_dev_outbox(user_id=recipient.user_id, channel="push")
        return found.items

    for user in (sender, recipient):  # known (name, address) before they chat
        await eventually(partial(_welcomed, admin, user.user_id))
    token = KEY.issue(recipient.user_id, ["customer"])
    async with sse(pair.b, recipient.user_id, token) as stream:
        await chat_message()
        live = await stream.notification("chat_message_sent")
        assert live.text == "Nuevo mensaje de Lucía Martínez."
    assert await pushes() == []
    await chat_message()
    (push,) = await eventually(pushes)
    assert push.recipient == f"user:{recipient.user_id}"


def cancelled(customer: uuid.UUID) -> dict[str, Any]:
    """An order of `customer` cancelled for want of payment."""
    return {
        "order_id": uuid.uuid4(),
        "customer_id": customer,
        "reason": "payment_failed",
        "cancelled_at": datetime.now(UTC),
    }


async def test_an_email_waits_for_its_recipient_announced_after_the_event(pair: Pair) -> None:
    # UserRegistered comes on another stream, whose consumer may lag behind the order's.
    user = UserRegistered.model_validate(
        {
            "user_id": uuid.uuid4(),
            "email": f"u{uuid.uuid4().hex[:10]}@example.es",
            "full_name": "Rocío Jiménez",
            "role": "customer",
            "province": "jaen",
            "registered_at": datetime.now(UTC),
        }
    )
    message = OrderCancelledSent.model_validate(cancelled(user.user_id))
    await OrderPublisher(pair.bus).order_cancelled(message, aggregate_id=str(message.order_id))
    js = pair.nc.jetstream()
    durable = next(s.durable for s in SUBSCRIPTIONS if s.channel == ORDER_CANCELLED)

    async def redelivered() -> bool:  # handled once, failed, and back for another try
        return (await js.consumer_info("ORDER", durable)).num_redelivered > 0

    await eventually(redelivered, timeout=30.0)
    admin = pair.client(pair.a, ADMIN)
    assert (await admin.list_notifications(user_id=user.user_id)).items == []
    await UserPublisher(pair.bus).user_registered(user, aggregate_id=str(user.user_id))

    async def cancel_email() -> list[Any]:
        found = await admin.list_dev_outbox(user_id=user.user_id, channel="email")
        return [e for e in found.items if e.template == "order_cancelled"]

    (email,) = await eventually(cancel_email, timeout=60.0)
    assert email.recipient == user.email
    assert email.body.startswith("Hola Rocío Jiménez,")
    listed = (await admin.list_notifications(user_id=user.user_id)).items
    assert sorted(n.channel for n in listed if n.template == "order_cancelled") == [
        "email",
        "realtime",
    ]


async def test_an_email_whose_recipient_never_comes_stays_in_the_app(pair: Pair) -> None:
    assert pair.a.host.context is not None
    handlers = definition().handlers(pair.a.host.context)
    assert isinstance(handlers, NotificationHandlers)
    customer = uuid.uuid4()
    message = OrderCancelled.model_validate(cancelled(customer))
    admin = pair.client(pair.a, ADMIN)
    for attempt in range(1, WAIT_ATTEMPTS):
        context = dataclasses.replace(context_of(ORDER_CANCELLED.subject), attempt=attempt)
        with pytest.raises(RecipientNotKnownYet, match=f"user {customer} not known yet"):
            await handlers.on_order_cancelled(message, context)
        assert (await admin.list_notifications(user_id=customer)).items == []  # rolled back
    last = dataclasses.replace(context_of(ORDER_CANCELLED.subject), attempt=WAIT_ATTEMPTS)
    await handlers.on_order_cancelled(message, last)
    listed = (await admin.list_notifications(user_id=customer)).items
    assert [(n.template, n.channel) for n in listed] == [("order_cancelled", "realtime")]
    assert (await admin.list_dev_outbox(user_id=customer)).items == []
    assert await pair.announced(customer) == []


async def test_a_low_stock_email_waits_for_the_artisan_to_be_known(pair: Pair) -> None:
    assert pair.a.host.context is not None
    handlers = definition().handlers(pair.a.host.context)
    assert isinstance(handlers, NotificationHandlers)
    artisan = uuid.uuid4()
    message = StockThresholdReached.model_validate(
        {
            "product_id": uuid.uuid4(),
            "artisan_id": artisan,
            "level": 2,
            "threshold": 3,
            "reached_at": datetime.now(UTC),
        }
    )
    first = context_of(STOCK_THRESHOLD_REACHED.subject)
    with pytest.raises(RecipientNotKnownYet, match=f"artisan {artisan} not known yet"):
        await handlers.on_stock_threshold_reached(message, first)
    last = dataclasses.replace(first, attempt=WAIT_ATTEMPTS)
    await handlers.on_stock_threshold_reached(message, last)  # gives up: nobody to tell


def test_waiting_for_a_recipient_never_dead_letters_an_event() -> None:
    assert all(s.policy.max_deliver > WAIT_ATTEMPTS for s in SUBSCRIPTIONS)


async def test_stream_sends_keep_alive_comments(pair: Pair) -> None:
    customer = uuid.uuid4()
    async with sse(pair.b, customer, KEY.issue(customer, ["customer"])) as stream:
        assert await stream.next(comments=True, timeout=5 * HEARTBEAT) == [": keep-alive"]


async def test_disconnected_client_leaves_no_stream_behind(pair: Pair) -> None:
    customer = uuid.uuid4()
    feed = pair.b.feed
    async with sse(pair.b, customer, KEY.issue(customer, ["customer"])):
        assert feed.open_streams(customer) == 1
        assert await feed.online(customer)
    await eventually(lambda: feed.open_streams(customer) == 0)
    assert await eventually(lambda: _offline(feed, customer))


async def _welcomed(admin: NotificationClient, user_id: uuid.UUID) -> bool:
    return bool((await admin.list_dev_outbox(user_id=user_id, channel="email")).items)


async def _offline(feed: LiveFeed, customer: uuid.UUID) -> bool:
    return not await feed.online(customer)


async def test_stream_and_list_are_for_their_owner_or_an_admin(pair: Pair) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    stranger_token = KEY.issue(stranger, ["customer"])
    async with httpx.AsyncClient(base_url=pair.b.url) as http:
        refused = await http.get(
            f"/stream/{owner}", headers={"Authorization": f"Bearer {stranger_token}"}
        )
        anonymous = await http.get(f"/stream/{owner}")
    assert (refused.status_code, anonymous.status_code) == (403, 401)
    with pytest.raises(ProblemError) as caught:
        await pair.client(pair.a, stranger_token).list_notifications(user_id=owner)
    assert caught.value.status == 403
    with pytest.raises(ProblemError) as caught:
        await pair.client(pair.a, stranger_token).list_dev_outbox()
    assert caught.value.status == 403
    async with sse(pair.b, owner, ADMIN):
        pass


async def test_stopping_the_service_ends_open_streams(
    nats_url: str, database_url: str, redis_url: str
) -> None:
    replica = await start_replica(nats_url, database_url, redis_url)
    customer = uuid.uuid4()
    try:
        async with sse(replica, customer, KEY.issue(customer, ["customer"])) as stream:
            await replica.host.stop()
            assert await stream.next(comments=True, timeout=5.0) == ["<closed>"]
    finally:
        replica.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await replica.task


async def test_missing_redis_url_fails_at_start_with_a_sentence(
    nats_url: str, database_url: str
) -> None:
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=KEY)
    try:
        with pytest.raises(ConfigurationError, match="needs A4CO_REDIS_URL"):
            await host.start()
    finally:
        await host.stop()


@dataclass
class CountingFeed:
    """The live feed's two calls the handlers make, recorded (no Redis needed here)."""

    pushes: list[list[Notification]] = field(default_factory=list)

    async def publish(self, notifications: list[Notification]) -> None:
        self.pushes.append(list(notifications))

    async def online(self, user_id: uuid.UUID) -> bool:
        return False


async def in_schema(
    schema: Schema, database_url: str, *adapters: Callable[[NotificationTables], ChannelAdapter]
) -> tuple[ServiceContext, NotificationTables, NotificationHandlers, CountingFeed]:
    """The notification handlers on the test's schema, a counting feed and `adapters`."""
    tables = NotificationTables(schema.name)
    async with schema.pool.acquire() as connection:
        await tables.migrate(connection)
    feed = CountingFeed()
    settings = Settings(service=schema.name, nats_url="nats://unused", database_url=database_url)
    ctx = ServiceContext(settings, schema.store, InMemoryEventSink())
    notifier = Notifier(tables, [make(tables) for make in adapters], feed)  # type: ignore[arg-type]
    return ctx, tables, NotificationHandlers(ctx, tables, notifier, feed), feed  # type: ignore[arg-type]


async def test_a_unit_of_work_pushes_its_live_notifications_once_after_its_commit(
    schema: Schema, database_url: str
) -> None:
    ctx, _, handlers, feed = await in_schema(schema, database_url)
    subscription = next(s for s in SUBSCRIPTIONS if s.handler == "on_order_state_changed")
    customers = [uuid.uuid4() for _ in range(3)]
    changes = [
        OrderStateChanged(
            order_id=uuid.uuid4(), customer_id=c, from_status="pending",
            to_status="payment_pending", changed_at=datetime.now(UTC),
        )
        for c in customers
    ]  # fmt: skip
    contexts = [request_context(str(uuid.uuid4()), source="/t") for _ in changes]
    async with ctx.unit_of_work(subscription, contexts):
        for change, context in zip(changes, contexts, strict=True):
            await handlers.on_order_state_changed(change, context)
        assert feed.pushes == []  # nothing before the commit
    assert [sorted(n.user_id for n in push) for push in feed.pushes] == [sorted(customers)]
    # Outside a unit, each message is its own transaction and push.
    alone = [request_context(str(uuid.uuid4()), source="/t") for _ in changes[:2]]
    for change, context in zip(changes[:2], alone, strict=True):
        await handlers.on_order_state_changed(change, context)
    assert len(feed.pushes) == 3


async def test_a_unit_of_emails_looks_its_recipients_up_once_or_waits_as_a_whole(
    schema: Schema, database_url: str
) -> None:
    ctx, tables, handlers, _ = await in_schema(schema, database_url, DevEmailAdapter)
    subscription = next(s for s in SUBSCRIPTIONS if s.handler == "on_order_cancelled")
    users = [
        UserRegistered.model_validate(
            {
                "user_id": uuid.uuid4(),
                "email": f"u{n}.{uuid.uuid4().hex[:8]}@example.es",
                "full_name": f"Cliente {n}",
                "role": "customer",
                "province": "jaen",
                "registered_at": datetime.now(UTC),
            }
        )
        for n in range(3)
    ]
    async with schema.store.transaction() as tx:
        for user in users:
            await tables.remember_user(tx, user)

    async def unit(customers: list[uuid.UUID]) -> None:
        contexts = [request_context(str(uuid.uuid4()), source="/t") for _ in customers]
        async with ctx.unit_of_work(subscription, contexts):
            for customer, context in zip(customers, contexts, strict=True):
                message = OrderCancelled.model_validate(cancelled(customer))
                await handlers.on_order_cancelled(message, context)

    sent = await schema.statements()
    await unit([u.user_id for u in users])

    lookups = [s for s in sent if s == "SELECT"]
    assert lookups == ["SELECT"]  # three emails, one lookup of their recipients
    async with schema.store.transaction() as tx:
        for user in users:
            (email,) = await tables.dev_outbox(tx, user.user_id, "email", 10)
            assert (email.recipient, email.body.split(",")[0]) == (
                user.email,
                "Hola " + user.full_name,
            )
    # A unit with a recipient not known yet fails whole (the consumer then takes its
    # messages one by one, and only that one waits): none of its notices is stored.
    stranger, known = uuid.uuid4(), users[0].user_id
    with pytest.raises(RecipientNotKnownYet, match=f"user {stranger} not known yet"):
        await unit([known, stranger])
    async with schema.store.transaction() as tx:
        assert len(await tables.dev_outbox(tx, known, "email", 10)) == 1
