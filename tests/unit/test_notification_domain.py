"""Notification's pure rules: who hears of what, over which channel, in which words."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from generated.notification.events import SUBSCRIPTIONS
from generated.notification.models import (
    ChatMessageSent,
    LocalEventPublished,
    Money,
    Notification,
    OrderCancelled,
    OrderConfirmed,
    OrderStateChanged,
    StockThresholdReached,
)
from services.notification import templates as t
from services.notification.live import sse_event
from services.notification.notifier import notification_id_of

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def test_money_is_shown_in_euros_with_a_decimal_comma() -> None:
    assert t.euros(Money(amount_minor=2999, currency="EUR")) == "29,99 EUR"
    assert t.euros(Money(amount_minor=123456, currency="EUR")) == "1.234,56 EUR"
    assert t.euros(Money(amount_minor=5, currency="EUR")) == "0,05 EUR"


def test_order_receipt_is_the_confirmation_email_with_the_amount_paid() -> None:
    customer = uuid.uuid4()
    item = {
        "product_id": str(uuid.uuid4()),
        "artisan_id": str(uuid.uuid4()),
        "quantity": 1,
        "unit_price": {"amount_minor": 2500, "currency": "EUR"},
    }
    message = OrderConfirmed.model_validate(
        {
            "order_id": str(uuid.uuid4()),
            "customer_id": str(customer),
            "payment_id": str(uuid.uuid4()),
            "items": [item],
            "total": {"amount_minor": 2999, "currency": "EUR"},
            "delivery": {"method": "pickup"},
            "confirmed_at": NOW.isoformat(),
        }
    )
    [notice] = t.order_confirmed(message)
    assert (notice.user_id, notice.outward, notice.template) == (
        customer,
        "email",
        "order_confirmed",
    )
    assert notice.text.startswith("Hemos recibido tu pago de 29,99 EUR: tu pedido está confirmado")


def test_cancellation_email_says_a_declined_payment_was_not_charged() -> None:
    customer = uuid.uuid4()
    message = OrderCancelled(
        order_id=uuid.uuid4(), customer_id=customer, reason="payment_failed", cancelled_at=NOW
    )
    [notice] = t.order_cancelled(message)
    assert (notice.user_id, notice.outward, notice.subject) == (
        customer,
        "email",
        "Pedido cancelado",
    )
    assert notice.text == (
        "Tu pedido fue cancelado: el pago no se completó y no te hemos cobrado nada."
    )


def test_the_order_and_its_payment_steps_are_not_consumed() -> None:
    taken = {sub.channel.subject for sub in SUBSCRIPTIONS}
    steps = {"order.created.v1", "payment.initiated.v1", "payment.succeeded.v1"}
    assert taken.isdisjoint(steps | {"payment.failed.v1"})
    assert {"order.state_changed.v1", "order.confirmed.v1", "order.cancelled.v1"} <= taken


def test_status_change_is_live_only() -> None:
    message = OrderStateChanged(
        order_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        from_status="shipped",
        to_status="delivered",
        changed_at=NOW,
    )
    [notice] = t.order_state_changed(message)
    assert notice.outward is None
    assert notice.text == "Tu pedido está entregado."


def test_chat_alert_goes_to_the_recipient_by_push_only_when_offline() -> None:
    sender, recipient = uuid.uuid4(), uuid.uuid4()
    message = ChatMessageSent(
        message_id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        sender_id=sender,
        recipient_id=recipient,
        body="Hola",
        sent_at=NOW,
    )
    [notice] = t.chat_message_sent(message, "Lucía Martínez")
    assert notice.user_id == recipient
    assert (notice.outward, notice.only_offline) == ("push", True)
    assert notice.text == "Nuevo mensaje de Lucía Martínez."


def test_low_stock_goes_to_the_artisans_user_account() -> None:
    artisan_user = uuid.uuid4()
    message = StockThresholdReached(
        product_id=uuid.uuid4(), artisan_id=uuid.uuid4(), level=2, threshold=5, reached_at=NOW
    )
    [notice] = t.stock_threshold_reached(message, artisan_user)
    assert (notice.user_id, notice.outward) == (artisan_user, "email")


def test_local_event_reaches_every_user_given() -> None:
    users = [uuid.uuid4(), uuid.uuid4()]
    message = LocalEventPublished(
        event_id=uuid.uuid4(),
        title="Feria del aceite",
        kind="fair",
        province="jaen",
        starts_at=NOW,
        ends_at=NOW,
        capacity=100,
    )
    notices = t.local_event_published(message, users)
    assert [n.user_id for n in notices] == users
    assert notices[0].text == "Feria en Jaén: Feria del aceite (28/11/2026)."


def test_notification_ids_are_stable_per_event_user_and_channel() -> None:
    user = uuid.uuid4()
    assert notification_id_of("m1", user, "email") == notification_id_of("m1", user, "email")
    assert notification_id_of("m1", user, "email") != notification_id_of("m1", user, "realtime")
    assert notification_id_of("m1", user, "email") != notification_id_of("m2", user, "email")


def test_sse_event_carries_the_notification_as_json_with_its_id() -> None:
    n = Notification(
        notification_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        channel="realtime",
        template="chat_message_sent",
        related_subject="chat.message_sent.v1",
        text="Hola",
        sent_at=NOW,
    )
    lines = sse_event(n).decode().split("\n")
    assert lines[0] == "event: notification"
    assert lines[1] == f"id: {n.notification_id}"
    assert json.loads(lines[2].removeprefix("data: "))["text"] == "Hola"
    assert lines[3:] == ["", ""]
