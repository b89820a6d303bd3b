"""The notification service's tables.

`recipients` is what the service knows of each user (from UserRegistered), `artisans` maps
an artisan to their user account (from ArtisanVerified); `notifications` is every
notification sent, per channel (listNotifications); `dev_outbox` is what the development
channel adapter recorded instead of sending (listDevOutbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from generated.notification.models import (
    Notification,
    NotificationOutboxEntry,
    UserRegistered,
)
from runtime.eventstore.base import Transaction
from runtime.eventstore.held import HeldInsert
from runtime.eventstore.postgres import connection_of

__all__ = ["NotificationTables", "Recipient"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".recipients (
    user_id uuid PRIMARY KEY, email text NOT NULL, full_name text NOT NULL,
    role text NOT NULL, province text NOT NULL);
CREATE INDEX IF NOT EXISTS recipients_province ON "{s}".recipients (province);
CREATE TABLE IF NOT EXISTS "{s}".artisans (artisan_id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".notifications (
    notification_id uuid PRIMARY KEY, user_id uuid NOT NULL, channel text NOT NULL,
    template text NOT NULL, related_subject text NOT NULL, text text NOT NULL,
    sent_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_user ON "{s}".notifications
    (user_id, sent_at DESC, notification_id);
CREATE TABLE IF NOT EXISTS "{s}".dev_outbox (
    notification_id uuid PRIMARY KEY, user_id uuid NOT NULL, channel text NOT NULL,
    recipient text NOT NULL, template text NOT NULL, subject text, body text NOT NULL,
    related_subject text NOT NULL, sent_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS dev_outbox_sent ON "{s}".dev_outbox (sent_at DESC);
"""


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the service knows of a user to address them."""

    user_id: UUID
    email: str
    full_name: str


class NotificationTables:
    """SQL of the notification service's tables in one schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'
        # Written, never read back in the transaction that writes them: one statement for
        # a whole unit of messages (an order makes about six notifications and two emails).
        self._notifications = HeldInsert(
            f"{self._s}.notifications",
            ("uuid", "uuid", "text", "text", "text", "text", "timestamptz"),
        )
        self._outgoing = HeldInsert(
            f"{self._s}.dev_outbox",
            ("uuid", "uuid", "text", "text", "text", "text", "text", "text", "timestamptz"),
        )

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing (the host holds the migration lock)."""
        await connection.execute(_DDL.format(s=self.schema))

    async def remember_user(self, tx: Transaction, user: UserRegistered) -> None:
        """Keep a registered user's address, name, role and province."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.recipients VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,"
            " full_name = excluded.full_name, role = excluded.role,"
            " province = excluded.province",
            user.user_id,
            user.email,
            user.full_name,
            user.role,
            user.province,
        )

    async def remember_artisan(self, tx: Transaction, artisan_id: UUID, user_id: UUID) -> None:
        """Keep which user account an artisan is."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.artisans VALUES ($1, $2)"
            " ON CONFLICT (artisan_id) DO UPDATE SET user_id = excluded.user_id",
            artisan_id,
            user_id,
        )

    async def recipient(self, tx: Transaction, user_id: UUID) -> Recipient | None:
        """A user's address and name, when they registered after this service started."""
        row = await connection_of(tx).fetchrow(
            f"SELECT user_id, email, full_name FROM {self._s}.recipients WHERE user_id = $1",
            user_id,
        )
        return Recipient(**dict(row)) if row else None

    async def recipients(self, tx: Transaction, user_ids: Sequence[UUID]) -> dict[UUID, Recipient]:
        """The addresses and names of those of `user_ids` who registered, in one statement."""
        rows = await connection_of(tx).fetch(
            f"SELECT user_id, email, full_name FROM {self._s}.recipients"
            " WHERE user_id = ANY($1::uuid[])",
            list(user_ids),
        )
        return {r["user_id"]: Recipient(**dict(r)) for r in rows}

    async def user_of_artisan(self, tx: Transaction, artisan_id: UUID) -> UUID | None:
        """The user account of an artisan, once verified."""
        found = await connection_of(tx).fetchval(
            f"SELECT user_id FROM {self._s}.artisans WHERE artisan_id = $1", artisan_id
        )
        return found if isinstance(found, UUID) else None

    async def customers_in(self, tx: Transaction, province: str) -> list[UUID]:
        """The customers who live in a province."""
        rows = await connection_of(tx).fetch(
            f"SELECT user_id FROM {self._s}.recipients WHERE province = $1"
            " AND role = 'customer' ORDER BY user_id",
            province,
        )
        return [r["user_id"] for r in rows]

    async def add_notification(self, tx: Transaction, notification: Notification) -> None:
        """Record a notification sent (written when the transaction flushes)."""
        n = notification
        self._notifications.add(
            tx,
            n.notification_id,
            n.user_id,
            n.channel,
            n.template,
            n.related_subject,
            n.text,
            n.sent_at,
        )

    async def notifications(
        self, tx: Transaction, user_id: UUID, channel: str | None, limit: int
    ) -> list[Notification]:
        """A user's notifications, newest first."""
        rows = await connection_of(tx).fetch(
            f"SELECT * FROM {self._s}.notifications WHERE user_id = $1"
            " AND ($2::text IS NULL OR channel = $2)"
            " ORDER BY sent_at DESC, notification_id LIMIT $3",
            user_id,
            channel,
            limit,
        )
        return [Notification.model_validate(dict(r)) for r in rows]

    async def record_outgoing(self, tx: Transaction, entry: NotificationOutboxEntry) -> None:
        """Record what the development adapter would have sent (written at the flush)."""
        e = entry
        self._outgoing.add(
            tx,
            e.notification_id,
            e.user_id,
            e.channel,
            e.recipient,
            e.template,
            e.subject,
            e.body,
            e.related_subject,
            e.sent_at,
        )

    async def dev_outbox(
        self, tx: Transaction, user_id: UUID | None, channel: str | None, limit: int
    ) -> list[NotificationOutboxEntry]:
        """What the development adapter recorded, newest first."""
        rows = await connection_of(tx).fetch(
            f"SELECT * FROM {self._s}.dev_outbox WHERE ($1::uuid IS NULL OR user_id = $1)"
            " AND ($2::text IS NULL OR channel = $2)"
            " ORDER BY sent_at DESC, notification_id LIMIT $3",
            user_id,
            channel,
            limit,
        )
        return [
            NotificationOutboxEntry.model_validate(
                {k: v for k, v in dict(r).items() if v is not None}
            )
            for r in rows
        ]
