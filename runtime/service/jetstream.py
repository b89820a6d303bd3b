"""The outbox relay's bus port on JetStream: stored bytes published with their headers.

`JetStreamRawPublisher.publish_all` writes a batch's frames one after the other on the
connection and waits for their acks together, on one wildcard inbox it keeps open. It
used to await nats-py's `js.publish` per event under `asyncio.gather`: a request each,
with its own future, timer and header encoding, the slowest of the pipelined ways
measured (FIELD-NOTES), and ~0.1 CPU-ms an event in a busy service (py-spy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError

from runtime.bus.envelope import MSG_ID, encode_headers
from runtime.bus.failures import PublishError
from runtime.bus.nats_publisher import (
    ack_refusal,
    check_subject,
    frame_writer,
    framing,
    write_hpub,
)
from runtime.errors import ContractError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from runtime.outbox.relay import RawMessage

__all__ = ["JetStreamRawPublisher"]


class _Round:
    """The acks one `publish_all` waits for."""

    __slots__ = ("done", "missing", "results")

    def __init__(self, size: int) -> None:
        self.results: list[BaseException | None] = [None] * size
        self.missing = size
        self.done = asyncio.Event()
        if not size:
            self.done.set()

    def settle(self, index: int, failure: BaseException | None) -> None:
        self.results[index] = failure
        self.missing -= 1
        if not self.missing:
            self.done.set()


class JetStreamRawPublisher:
    """Publishes outbox events pipelined; JetStream drops a repeated `Nats-Msg-Id`."""

    def __init__(self, nc: Client, *, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._ack_timeout = ack_timeout
        self._prefix = nc.new_inbox()
        self._reply_prefix = self._prefix + "."
        self._next = 0
        self._waiting: dict[str, tuple[_Round, int]] = {}
        self._inbox: Subscription | None = None
        self._write = frame_writer(nc)

    async def publish_all(self, messages: Sequence[RawMessage]) -> list[BaseException | None]:
        """Write every message in order, then wait up to `ack_timeout` for their acks.

        One result per message: None where JetStream stored it (or dropped it as a copy),
        else a `PublishError`. A message that could not be written fails, and those after
        it are not written (the relay publishes them again after the failed one).
        """
        if self._inbox is None:
            self._inbox = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_ack)
        waiting = _Round(len(messages))
        tokens: list[str] = []
        for index, message in enumerate(messages):
            token = str(self._next)
            self._next += 1
            self._waiting[token] = (waiting, index)
            tokens.append(token)
            try:
                await self._send(message, self._reply_prefix + token)
            except (NatsError, ContractError, PublishError) as exc:
                del self._waiting[token]
                failure = exc if isinstance(exc, PublishError) else PublishError(str(exc))
                waiting.settle(index, failure)
                for later in range(index + 1, len(messages)):
                    waiting.settle(later, PublishError("not written: an earlier message failed"))
                break
        try:
            async with asyncio.timeout(self._ack_timeout):
                await waiting.done.wait()
        except TimeoutError:
            for token in tokens:
                if (entry := self._waiting.pop(token, None)) is not None:
                    entry[0].settle(
                        entry[1], PublishError(f"no ack within {self._ack_timeout:g} s")
                    )
        finally:
            for token in tokens:
                self._waiting.pop(token, None)
        return waiting.results

    async def _send(self, message: RawMessage, reply: str) -> None:
        subject, payload = message.subject, message.payload
        check_subject(subject)
        headers = {**message.headers, MSG_ID: message.message_id}
        block = encode_headers(headers)  # a bad header name is a ContractError
        if self._write is not None and framing(self._nc):
            await write_hpub(self._nc, self._write, subject, reply, block, payload)
        else:
            await self._nc.publish(subject, payload, reply=reply, headers=headers)

    async def _on_ack(self, msg: Msg) -> None:
        entry = self._waiting.pop(msg.subject[len(self._reply_prefix) :], None)
        if entry is None:  # an ack after its round gave up on it
            return
        refusal = ack_refusal(msg)
        entry[0].settle(entry[1], None if refusal is None else PublishError(refusal))
