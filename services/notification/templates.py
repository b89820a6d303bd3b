"""What each event tells whom: pure functions from a message to its notices.

Every notice reaches the user's in-app feed (the realtime channel: the notifications list
and the live stream); `outward` adds one channel that reaches them outside the app
(email or push), as each receive operation of the contract says. Each fact of an order is
told once: its status in the app (`order_state_changed`; order announces no such move to
confirmed), the receipt with the amount paid when it is confirmed, the reason when it is
cancelled (a declined payment included), so the order's creation and its payment's steps
have no notice of their own. Texts are Spanish, the marketplace's language; money is shown
as `29,99 EUR`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from generated.notification.models import (
    ArtisanVerified,
    BookingConfirmed,
    ChatMessageSent,
    LocalEventPublished,
    LoyaltyTierChanged,
    Money,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderStateChanged,
    PaymentRefunded,
    PointsAwarded,
    ShipmentCreated,
    ShipmentDelivered,
    ShipmentDispatched,
    StockThresholdReached,
    UserRegistered,
)

__all__ = [
    "Notice",
    "Outward",
    "artisan_verified",
    "booking_confirmed",
    "chat_message_sent",
    "euros",
    "local_event_published",
    "loyalty_tier_changed",
    "order_cancelled",
    "order_confirmed",
    "order_delivered",
    "order_state_changed",
    "payment_refunded",
    "points_awarded",
    "shipment_created",
    "shipment_delivered",
    "shipment_dispatched",
    "stock_threshold_reached",
    "user_registered",
]

Outward = Literal["email", "sms", "push"]

_STATUS = {
    "pending": "pendiente",
    "stock_reserved": "con el stock reservado",
    "payment_pending": "pendiente de pago",
    "confirmed": "confirmado",
    "shipped": "enviado",
    "delivered": "entregado",
    "cancelled": "cancelado",
    "rejected": "rechazado",
}
_CANCEL_REASON = {
    "out_of_stock": "no quedaba stock suficiente",
    "stock_timeout": "no pudimos reservar el stock a tiempo",
    "payment_failed": "el pago no se completó y no te hemos cobrado nada",
    "payment_timeout": "el pago no llegó a tiempo",
    "customer_cancelled": "lo cancelaste tú",
    "customer_invalid": "no pudimos validar tu cuenta",
}
_TIER = {"bronze": "bronce", "silver": "plata", "gold": "oro"}
_KIND = {"fair": "Feria", "tasting": "Cata", "workshop": "Taller"}
_PROVINCE = {
    "almeria": "Almería",
    "cadiz": "Cádiz",
    "cordoba": "Córdoba",
    "granada": "Granada",
    "huelva": "Huelva",
    "jaen": "Jaén",
    "malaga": "Málaga",
    "sevilla": "Sevilla",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell one user: its template, short text, and outward channel if any."""

    user_id: UUID
    template: str
    text: str
    outward: Outward | None = None
    subject: str | None = None
    """The email's subject line."""
    only_offline: bool = False
    """Use the outward channel only when the user has no live stream open."""


def euros(money: Money) -> str:
    """`29,99 EUR`: whole euros, a comma, two cents digits (amounts are integer cents)."""
    sign = "-" if money.amount_minor < 0 else ""
    whole, cents = divmod(abs(money.amount_minor), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{cents:02d} {money.currency}"


def order_state_changed(m: OrderStateChanged) -> list[Notice]:
    """The order's new status, live only."""
    text = f"Tu pedido está {_STATUS[m.to_status]}."
    return [Notice(m.customer_id, "order_state_changed", text)]


def order_confirmed(m: OrderConfirmed) -> list[Notice]:
    """The receipt: the order is paid and confirmed, by email."""
    text = (
        f"Hemos recibido tu pago de {euros(m.total)}: tu pedido está confirmado"
        " y te avisaremos cuando salga."
    )
    return [Notice(m.customer_id, "order_confirmed", text, "email", "Pedido confirmado")]


def order_cancelled(m: OrderCancelled) -> list[Notice]:
    """The order was cancelled, and why, by email."""
    text = f"Tu pedido fue cancelado: {_CANCEL_REASON[m.reason]}."
    return [Notice(m.customer_id, "order_cancelled", text, "email", "Pedido cancelado")]


def order_delivered(m: OrderDelivered) -> list[Notice]:
    """The delivery notice and a request for a review, by push."""
    text = "Tu pedido ha sido entregado. ¿Nos cuentas qué te ha parecido?"
    return [Notice(m.customer_id, "order_delivered", text, "push")]


def payment_refunded(m: PaymentRefunded) -> list[Notice]:
    """The refund is on its way, by email."""
    text = f"Te hemos devuelto {euros(m.amount)}; lo verás en tu cuenta en unos días."
    return [Notice(m.customer_id, "payment_refunded", text, "email", "Reembolso en camino")]


def stock_threshold_reached(m: StockThresholdReached, artisan_user: UUID) -> list[Notice]:
    """The artisan's product is running low, by email."""
    text = (
        f"Quedan {m.level} unidades disponibles del producto {m.product_id}"
        f" (tu aviso está en {m.threshold})."
    )
    return [Notice(artisan_user, "stock_threshold_reached", text, "email", "Stock bajo")]


def user_registered(m: UserRegistered) -> list[Notice]:
    """The welcome email."""
    text = "Gracias por registrarte en A4CO, el mercado de los artesanos de Jaén."
    return [Notice(m.user_id, "user_registered", text, "email", "Bienvenida a A4CO")]


def artisan_verified(m: ArtisanVerified) -> list[Notice]:
    """The artisan can sell now, by email."""
    text = f"Tu taller está verificado (nivel {m.verification_level}): ya puedes vender en A4CO."
    return [Notice(m.user_id, "artisan_verified", text, "email", "Taller verificado")]


def chat_message_sent(m: ChatMessageSent, sender_name: str | None) -> list[Notice]:
    """A chat message for its recipient: live, and by push when they are not connected."""
    text = f"Nuevo mensaje de {sender_name}." if sender_name else "Tienes un mensaje nuevo."
    return [Notice(m.recipient_id, "chat_message_sent", text, "push", only_offline=True)]


def points_awarded(m: PointsAwarded) -> list[Notice]:
    """The points earned, live only."""
    text = f"Has ganado {m.points} puntos; tu saldo es de {m.balance} puntos."
    return [Notice(m.user_id, "points_awarded", text)]


def loyalty_tier_changed(m: LoyaltyTierChanged) -> list[Notice]:
    """Congratulations on the new tier, by push."""
    text = f"¡Enhorabuena! Has pasado al nivel {_TIER[m.to_tier]}."
    return [Notice(m.user_id, "loyalty_tier_changed", text, "push")]


def shipment_created(m: ShipmentCreated) -> list[Notice]:
    """The tracking details, by email."""
    if m.delivery.method == "pickup":
        text = f"Tu pedido se podrá recoger en Jaén con el código {m.tracking_code}."
    else:
        text = f"Preparamos tu envío; su código de seguimiento es {m.tracking_code}."
    return [Notice(m.customer_id, "shipment_created", text, "email", "Datos de tu envío")]


def shipment_dispatched(m: ShipmentDispatched) -> list[Notice]:
    """The parcel is on its way, by push."""
    text = f"Tu paquete {m.tracking_code} está en camino."
    return [Notice(m.customer_id, "shipment_dispatched", text, "push")]


def shipment_delivered(m: ShipmentDelivered) -> list[Notice]:
    """The parcel was delivered, by push."""
    text = f"Tu paquete {m.tracking_code} ha sido entregado."
    return [Notice(m.customer_id, "shipment_delivered", text, "push")]


def local_event_published(m: LocalEventPublished, users: list[UUID]) -> list[Notice]:
    """The event, live, to each user of its province."""
    when = m.starts_at.strftime("%d/%m/%Y")
    text = f"{_KIND[m.kind]} en {_PROVINCE[m.province]}: {m.title} ({when})."
    return [Notice(user, "local_event_published", text) for user in users]


def booking_confirmed(m: BookingConfirmed) -> list[Notice]:
    """The booking confirmation, by email."""
    seats = "1 plaza" if m.seats == 1 else f"{m.seats} plazas"
    text = f"Tu reserva de {seats} está confirmada."
    return [Notice(m.user_id, "booking_confirmed", text, "email", "Reserva confirmada")]
