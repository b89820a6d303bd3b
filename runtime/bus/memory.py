"""An in-memory bus for unit tests: an `EventSink` that keeps messages, and hands them on.

It writes the same headers and bytes as the NATS backend and deduplicates by message id
as JetStream does, but has no redelivery: a handler's error propagates to the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from runtime.bus.envelope import CE_ID, build_headers, parse_context

if TYPE_CHECKING:
    from runtime.bus.base import BoundSubscription, Channel, MessageContext

__all__ = ["InMemoryEventSink", "SentMessage"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One stored message: subject, payload bytes, envelope headers, and its sequence."""

    subject: str
    data: bytes
    headers: dict[str, str]
    sequence: int


@dataclass
class InMemoryEventSink:
    """An `EventSink` that stores messages in order; `deliver` runs handlers on them."""

    messages: list[SentMessage] = field(default_factory=list)
    _delivered: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    async def send(
        self,
        channel: Channel[M],
        payload: M,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Store one message, unless one with the same id is stored already."""
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
        )
        if all(sent.headers[CE_ID] != headers[CE_ID] for sent in self.messages):
            data = payload.model_dump_json(exclude_none=True).encode()
            sequence = len(self.messages) + 1
            self.messages.append(SentMessage(channel.subject, data, headers, sequence))
        return headers[CE_ID]

    def payloads(self, channel: Channel[M]) -> list[M]:
        """The payloads stored on `channel`, decoded as its model."""
        sent_on = [sent for sent in self.messages if sent.subject == channel.subject]
        return [channel.read(sent.data) for sent in sent_on]

    async def deliver(self, bound: tuple[BoundSubscription, ...]) -> int:
        """Hand each subscription the messages it has not seen yet; return how many."""
        count = 0
        for item in bound:
            sub = item.subscription
            start = self._delivered.get(sub.durable, 0)
            for sent in self.messages[start:]:
                self._delivered[sub.durable] = sent.sequence
                if sent.subject != sub.channel.subject:
                    continue
                context = parse_context(
                    sent.headers, bus_subject=sent.subject, stream_sequence=sent.sequence
                )
                await item.handle(sub.channel.read(sent.data), context)
                count += 1
        return count
