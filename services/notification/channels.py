"""The port to the outside channels (email, SMS, push) and the development adapters.

A `ChannelAdapter` sends one rendered message. The development adapters, one class per
channel, record what they would have sent in the `dev_outbox` table, in the handler's
transaction, so a test (or a developer, through listDevOutbox) reads exactly what went
out. A real provider's adapter (SMTP, an SMS gateway, a push service) implements the same
port; it would send after the commit, since a provider cannot roll back.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol

from generated.notification.models import NotificationOutboxEntry
from runtime.eventstore.base import Transaction
from services.notification.tables import NotificationTables

__all__ = [
    "ChannelAdapter",
    "DevEmailAdapter",
    "DevOutboxAdapter",
    "DevPushAdapter",
    "DevSmsAdapter",
    "development_adapters",
]

OutwardChannel = Literal["email", "sms", "push"]


class ChannelAdapter(Protocol):
    """Sends a rendered notification over one outside channel."""

    @property
    def channel(self) -> OutwardChannel:
        """The channel it sends over."""
        ...

    async def send(self, tx: Transaction, message: NotificationOutboxEntry) -> None:
        """Send (or, in development, record) one message."""
        ...


class DevOutboxAdapter:
    """Records instead of sending; the base of the three development adapters."""

    channel: ClassVar[OutwardChannel]

    def __init__(self, tables: NotificationTables) -> None:
        self._tables = tables

    async def send(self, tx: Transaction, message: NotificationOutboxEntry) -> None:
        """Record the message in the development outbox."""
        await self._tables.record_outgoing(tx, message)


class DevEmailAdapter(DevOutboxAdapter):
    """Records emails instead of sending them."""

    channel = "email"


class DevSmsAdapter(DevOutboxAdapter):
    """Records SMS instead of sending them."""

    channel = "sms"


class DevPushAdapter(DevOutboxAdapter):
    """Records push notifications instead of sending them."""

    channel = "push"


def development_adapters(tables: NotificationTables) -> list[ChannelAdapter]:
    """The three development adapters (the default, and what listDevOutbox reads)."""
    return [DevEmailAdapter(tables), DevSmsAdapter(tables), DevPushAdapter(tables)]
