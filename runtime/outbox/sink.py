"""An `EventSink` that appends to an aggregate's stream inside a transaction.

A generated `Publisher` given this sink records its messages in the events table, so they
commit with the handler's effects and the relay publishes them afterwards (the outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from pydantic import BaseModel

from runtime.bus.base import Channel, MessageContext
from runtime.bus.envelope import CE_ID, build_headers
from runtime.eventstore.base import NewEvent, RecordedEvent, StreamAppend, Transaction

__all__ = ["StreamSink", "Upcoming"]

_NAMESPACE = uuid.UUID("5b0c7a52-6a5e-4c1f-9a41-a4c0a4c0a4c0")


class StreamSink:
    """Appends every sent message to one stream, after the version it was opened at.

    Sent messages are held back and appended together, in one statement, when the
    transaction next reads events or commits, or when `flush()` is awaited: a handler that
    sends three messages writes them in one round trip instead of three. Every sink of a
    transaction is flushed together, in one `append_all` (reserving stock appends to the
    reservation's stream and each product's; a unit of twenty messages, to twenty streams:
    one statement either way), or in the statement of the handler's own writes when it
    makes them with `write_together` (the sinks are the transaction's `held_appends`). A
    sink opened `at_end` looks no version up: its append goes at the end of the stream,
    whatever its version, and a concurrent append still fails one of the two transactions.
    Read `recorded` after `await flush()`.
    """

    def __init__(self, tx: Transaction, stream_id: str, version: int | None) -> None:
        self._tx = tx
        self.stream_id = stream_id
        self._version = version
        self._pending: list[NewEvent] = []
        self._recorded: list[RecordedEvent] = []
        held = tx.held_appends
        if held is None:
            held = tx.held_appends = _Sinks()
            tx.buffer(partial(_flush_all, tx))
        elif not isinstance(held, _Sinks):
            raise TypeError(f"the transaction's appends are held by a {type(held).__name__}")
        held.sinks.append(self)

    @classmethod
    async def at_end(cls, tx: Transaction, stream_id: str) -> StreamSink:
        """A sink appending at the end of the stream (no version is looked up)."""
        return cls(tx, stream_id, None)

    @property
    def knows_version(self) -> bool:
        """False for a sink opened `at_end` until it is flushed."""
        return self._version is not None

    @property
    def version(self) -> int:
        """The stream's version once what was sent is appended (an `at_end` sink knows it
        only after a flush)."""
        if self._version is None:
            raise RuntimeError(
                f"the version of {self.stream_id!r} is unknown: the sink appends at its end;"
                " await flush() first, or open the sink at a version"
            )
        return self._version + len(self._pending)

    def ahead(self) -> list[Upcoming]:
        """The messages sent and not yet appended, with the versions they will take: a
        read model can be written in the statement that appends them (`write_together`).
        Only a sink opened at a version knows them."""
        base = self.version - len(self._pending)
        return [
            Upcoming(base + k, event.type, event.payload)
            for k, event in enumerate(self._pending, start=1)
        ]

    @property
    def recorded(self) -> list[RecordedEvent]:
        """What this sink appended, as recorded; complete once flushed."""
        self._require_flushed("recorded")
        return self._recorded

    async def send(
        self,
        channel: Channel[Any],
        payload: BaseModel,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Hold the message back for the stream; a version conflict surfaces at the flush."""
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
        )
        ce_id = headers[CE_ID]
        self._pending.append(
            NewEvent(
                type=channel.ce_type,
                subject=channel.subject,
                payload=payload.model_dump_json(exclude_none=True).encode(),
                aggregate_id=aggregate_id,
                headers=headers,
                event_id=_uuid_of(ce_id),
            )
        )
        return ce_id

    async def flush(self) -> list[RecordedEvent]:
        """Append what this transaction's sinks hold back, in one statement; return
        everything this sink recorded."""
        if self._pending:
            await _flush_all(self._tx)
        return self._recorded

    def _take(self) -> StreamAppend:
        pending, self._pending = self._pending, []
        return StreamAppend(self.stream_id, self._version, pending)

    def _appended(self, recorded: list[RecordedEvent]) -> None:
        self._version = recorded[-1].version
        self._recorded += recorded

    def _require_flushed(self, what: str) -> None:
        if self._pending:
            raise RuntimeError(
                f"{len(self._pending)} message(s) to {self.stream_id!r} are not appended yet:"
                f" await flush() before reading {what}"
            )


class Upcoming(NamedTuple):
    """A message held back by a sink, with the stream version it will take."""

    version: int
    type: str
    payload: bytes


class _Sinks:
    """A transaction's sinks, in the order they were opened: its `held_appends`."""

    def __init__(self) -> None:
        self.sinks: list[StreamSink] = []

    def take(self) -> tuple[list[StreamAppend], Callable[[list[list[RecordedEvent]]], None]]:
        holding = [sink for sink in self.sinks if sink._pending]

        def hand_back(recorded: list[list[RecordedEvent]]) -> None:
            for sink, events in zip(holding, recorded, strict=True):
                sink._appended(events)

        return [sink._take() for sink in holding], hand_back


async def _flush_all(tx: Transaction) -> None:
    """Append what every sink of `tx` holds back, in one `append_all`."""
    assert tx.held_appends is not None
    appends, hand_back = tx.held_appends.take()
    if appends:
        hand_back(await tx.append_all(appends))


def _uuid_of(message_id: str) -> uuid.UUID:
    """The message id as a UUID; a non-UUID id maps to a stable name-based UUID."""
    try:
        return uuid.UUID(message_id)
    except ValueError:
        return uuid.uuid5(_NAMESPACE, message_id)
