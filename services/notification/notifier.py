"""Sends notices: the in-app notification, the outward channel, and NotificationSent.

Everything is written in the handler's transaction: the notifications rows, what a
development adapter records, and a NotificationSent for each notice that left the app
(email, SMS, push; appended to the notification's own stream, which the outbox publishes).
In-app (realtime) notifications are stored but not announced: they are the app's own
state, not a fact other services act on, and announcing them cost a bus message each. They
are returned, to be published on the live feed once the transaction has committed.

An email needs its recipient's address, which the service learns from UserRegistered on
another stream: its consumer may lag behind the one of the event (a tick apart, or a
backlog after an outage), so the event can come first. Its handling then fails with
`RecipientNotKnownYet`, a transient error, and the consumer redelivers it after its
backoff, until delivery `WAIT_ATTEMPTS`, which gives up on the email and keeps the notice
in the app only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from generated.notification.events import Publisher
from generated.notification.models import Notification, NotificationOutboxEntry, NotificationSent
from runtime.bus.base import MessageContext
from runtime.bus.failures import TransientError
from runtime.eventstore.base import Transaction
from runtime.eventstore.held import Held
from runtime.outbox.sink import StreamSink
from services.notification.channels import ChannelAdapter
from services.notification.live import LiveFeed
from services.notification.tables import NotificationTables, Recipient
from services.notification.templates import Notice

__all__ = [
    "WAIT_ATTEMPTS",
    "Notifier",
    "RecipientNotKnownYet",
    "notification_id_of",
    "wait_for_recipient",
]

Channel = Literal["email", "sms", "push", "realtime"]

_NAMESPACE = uuid.UUID("9a3c2e1d-4b5f-4c6a-8d7e-0f1a2b3c4d5e")

log = logging.getLogger(__name__)

WAIT_ATTEMPTS = 4
"""The delivery of an event that no longer waits for its recipient. With the consumers'
default backoff (1, 5, 30 s) the first three wait about 36 s in all; below their
`max_deliver` (5), so waiting never dead-letters an event."""


class RecipientNotKnownYet(TransientError):
    """The event's recipient is not known yet: its announcement is still on its way."""


def wait_for_recipient(cause: MessageContext, who: str) -> None:
    """Fail the handling for a redelivery while `cause` may still wait for `who`."""
    if cause.attempt < WAIT_ATTEMPTS:
        raise RecipientNotKnownYet(
            f"{who} not known yet (delivery {cause.attempt} of {cause.subject}); retrying"
        )


def notification_id_of(message_id: str, user_id: UUID, channel: str) -> UUID:
    """One notification per event, user and channel: the same id on every redelivery."""
    return uuid.uuid5(_NAMESPACE, f"{message_id}:{user_id}:{channel}")


class _Outward(NamedTuple):
    """A notice to send outward when the transaction flushes, with what `send` was told."""

    notice: Notice
    cause: MessageContext
    related_subject: str
    now: datetime


class Notifier:
    """Turns notices into notifications over the realtime channel and the adapters'."""

    def __init__(
        self, tables: NotificationTables, adapters: Sequence[ChannelAdapter], feed: LiveFeed
    ) -> None:
        self._tables = tables
        self._adapters: Mapping[str, ChannelAdapter] = {a.channel: a for a in adapters}
        self._feed = feed
        self._outward: Held[list[_Outward]] = Held(list, self._send_held)

    async def send(
        self,
        tx: Transaction,
        notices: Sequence[Notice],
        *,
        cause: MessageContext,
        related_subject: str,
        now: datetime,
    ) -> list[Notification]:
        """Record every notice in the app; send and announce the outward ones when the
        transaction flushes, before its commit (`_send_held`).

        Returns the realtime notifications, for the live feed.
        """
        live: list[Notification] = []
        for notice in notices:
            realtime = self._notification(notice, "realtime", cause, related_subject, now)
            await self._tables.add_notification(tx, realtime)
            live.append(realtime)
            if notice.outward is not None and await self._goes_outward(notice):
                self._outward.of(tx).append(_Outward(notice, cause, related_subject, now))
        return live

    async def _send_held(self, tx: Transaction, held: list[_Outward]) -> None:
        """Send the outward notices of a transaction, before it commits: their recipients
        looked up in one statement (a unit of twenty messages made twenty lookups). A
        recipient not known yet fails the transaction as it failed the handler: a unit
        is then handled one message at a time, and only that message waits."""
        emailed = sorted({o.notice.user_id for o in held if o.notice.outward == "email"})
        found = await self._tables.recipients(tx, emailed) if emailed else {}
        for o in held:
            await self._send_outward(
                tx, o.notice, found.get(o.notice.user_id), o.cause, o.related_subject, o.now
            )

    async def _goes_outward(self, notice: Notice) -> bool:
        return not (notice.only_offline and await self._feed.online(notice.user_id))

    async def _send_outward(
        self,
        tx: Transaction,
        notice: Notice,
        recipient: Recipient | None,
        cause: MessageContext,
        related_subject: str,
        now: datetime,
    ) -> None:
        assert notice.outward is not None
        adapter = self._adapters.get(notice.outward)
        address = _address(notice, recipient)
        if adapter is not None and address is None and notice.outward == "email":
            wait_for_recipient(cause, f"the address of user {notice.user_id}")
        if adapter is None or address is None:
            log.info(
                "no %s for user %s (%s): in-app only",
                notice.outward,
                notice.user_id,
                notice.template,
            )
            return
        sent = self._notification(notice, notice.outward, cause, related_subject, now)
        await adapter.send(
            tx,
            NotificationOutboxEntry(
                notification_id=sent.notification_id,
                user_id=notice.user_id,
                channel=notice.outward,
                recipient=address,
                template=notice.template,
                subject=notice.subject if notice.outward == "email" else None,
                body=_body(notice, recipient),
                related_subject=related_subject,
                sent_at=now,
            ),
        )
        await self._tables.add_notification(tx, sent)
        await self._announce(tx, sent, cause)

    @staticmethod
    def _notification(
        notice: Notice, channel: Channel, cause: MessageContext, related_subject: str, now: datetime
    ) -> Notification:
        return Notification(
            notification_id=notification_id_of(cause.id, notice.user_id, channel),
            user_id=notice.user_id,
            channel=channel,
            template=notice.template,
            related_subject=related_subject,
            text=notice.text,
            sent_at=now,
        )

    @staticmethod
    async def _announce(tx: Transaction, n: Notification, cause: MessageContext) -> None:
        """Announce a notification that left the app with NotificationSent."""
        sink = StreamSink(tx, f"notification-{n.notification_id}", 0)
        await Publisher(sink).notification_sent(
            NotificationSent(
                notification_id=n.notification_id,
                user_id=n.user_id,
                channel=n.channel,
                template=n.template,
                related_subject=n.related_subject,
                sent_at=n.sent_at,
            ),
            aggregate_id=str(n.user_id),
            cause=cause,
        )


def _address(notice: Notice, recipient: Recipient | None) -> str | None:
    """Where the outward message goes: the email address, or the user's devices for push.

    No event carries a phone number, so SMS has no address yet.
    """
    if notice.outward == "email":
        return recipient.email if recipient else None
    if notice.outward == "push":
        return f"user:{notice.user_id}"
    return None


def _body(notice: Notice, recipient: Recipient | None) -> str:
    if notice.outward != "email":
        return notice.text
    greeting = f"Hola {recipient.full_name}," if recipient else "Hola,"
    return f"{greeting}\n\n{notice.text}\n\nA4CO, artesanía y producto local de Jaén."
