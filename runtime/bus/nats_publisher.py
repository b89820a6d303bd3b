"""Publishing to JetStream: one awaited publish, or a pipeline with many acks in flight.

`NatsEventSink.send` waits for the ack of each message. `NatsEventSink.pipeline()` gives
an `EventSink` whose `send` returns once the message is written, with up to `window` acks
in flight on one wildcard inbox; leaving the block waits for every ack and raises
`PublishError` if any message was refused. Streams are provisioned by `ensure_streams`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from runtime.bus.envelope import CE_ID, build_headers, header_block
from runtime.bus.failures import PublishError
from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription
    from nats.js import JetStreamContext

    from runtime.bus.base import Channel, MessageContext, StreamSpec

__all__ = [
    "DLQ_STREAM",
    "FrameWriter",
    "NatsEventSink",
    "PipelinedSink",
    "ack_refusal",
    "check_subject",
    "ensure_streams",
    "frame_writer",
    "framing",
    "write_hpub",
]

M = TypeVar("M", bound=BaseModel)
DLQ_STREAM = "DLQ"
DLQ_SUBJECTS = ("dlq.>",)
DLQ_MAX_AGE = 30 * 24 * 3600.0


class NatsEventSink:
    """An `EventSink` on JetStream: payload as snake_case JSON, envelope in headers."""

    def __init__(self, nc: Client, *, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=ack_timeout)
        self._ack_timeout = ack_timeout

    async def send(
        self,
        channel: Channel[M],
        payload: M,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Publish one message and wait for JetStream to store it; return its `ce-id`."""
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
        )
        data = payload.model_dump_json(exclude_none=True).encode()
        try:
            await self._js.publish(channel.subject, data, headers=headers)
        except NoRespondersError as exc:
            raise PublishError(f"no stream captures {channel.subject}") from exc
        except NatsTimeoutError as exc:
            raise PublishError(
                f"no ack for {channel.subject} within {self._ack_timeout:g} s"
            ) from exc
        except NatsError as exc:
            raise PublishError(f"JetStream refused a message on {channel.subject}: {exc}") from exc
        return headers["ce-id"]

    @asynccontextmanager
    async def pipeline(self, *, window: int = 1000) -> AsyncIterator[PipelinedSink]:
        """A sink that keeps up to `window` acks in flight; all are awaited on exit."""
        sink = PipelinedSink(self._nc, window=window, ack_timeout=self._ack_timeout)
        await sink.open()
        try:
            yield sink
            await sink.flush()
        finally:
            await sink.close()


class PipelinedSink:
    """An `EventSink` whose sends are acknowledged together, on one wildcard inbox.

    Each message is framed here (`header_block` + payload bytes) and written straight into
    the client's outgoing buffer when the client allows it (see `frame_writer`); otherwise
    it goes through `nc.publish`. Acks are counted, not awaited one by one: `send` waits
    only while `window` are outstanding, for at most `ack_timeout` without any ack.
    """

    def __init__(self, nc: Client, *, window: int, ack_timeout: float) -> None:
        if window < 1:
            raise ConfigurationError(f"a publish window must be at least 1, not {window}")
        self._nc = nc
        self._window = window
        self._ack_timeout = ack_timeout
        self._prefix = nc.new_inbox()
        self._reply_prefix = self._prefix + "."
        self._next = 0
        self._pending: dict[str, None] = {}
        self._acked = asyncio.Event()
        self._errors: list[str] = []
        self._inbox: NatsSubscription | None = None
        self._write = frame_writer(nc)
        self._checked: set[str] = set()

    async def open(self) -> None:
        """Subscribe to the inbox that receives the acks."""
        self._inbox = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_ack)

    async def close(self) -> None:
        """Stop listening for acks; unacknowledged sends are abandoned."""
        if self._inbox is not None:
            await self._inbox.unsubscribe()
            self._inbox = None
        self._pending.clear()

    async def send(
        self,
        channel: Channel[M],
        payload: M,
        *,
        aggregate_id: str,
        cause: MessageContext | None = None,
        message_id: str | None = None,
    ) -> str:
        """Write one message; wait only while `window` acks are outstanding."""
        if len(self._pending) >= self._window:
            await self._wait_for_room(self._window - 1)
        subject = channel.subject
        if subject not in self._checked:
            check_subject(subject)
            self._checked.add(subject)
        token = str(self._next)
        self._next += 1
        reply = self._reply_prefix + token
        # The serializer's own bytes: model_dump_json() would decode them, and we re-encode.
        data = payload.__pydantic_serializer__.to_json(payload, exclude_none=True)
        self._pending[token] = None
        try:
            nc = self._nc
            if self._write is not None and framing(nc):
                ce_id, block = header_block(
                    channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
                )
                await write_hpub(nc, self._write, subject, reply, block, data)
            else:
                headers = build_headers(
                    channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
                )
                ce_id = headers[CE_ID]
                await nc.publish(subject, data, reply=reply, headers=headers)
        except NatsError as exc:
            self._pending.pop(token, None)
            raise PublishError(f"could not write a message on {subject}: {exc}") from exc
        return ce_id

    async def flush(self) -> None:
        """Wait for every outstanding ack; raise `PublishError` if any message was refused."""
        await self._nc.flush()
        await self._wait_for_room(0)
        if self._errors:
            errors, self._errors = self._errors, []
            raise PublishError(f"{len(errors)} message(s) were not stored; the first: {errors[0]}")

    async def _wait_for_room(self, outstanding: int) -> None:
        """Wait until at most `outstanding` acks are missing; give up on the oldest ones
        after `ack_timeout` without any ack."""
        while len(self._pending) > outstanding:
            self._acked.clear()
            try:
                async with asyncio.timeout(self._ack_timeout):
                    await self._acked.wait()
            except TimeoutError:
                while len(self._pending) > outstanding:
                    del self._pending[next(iter(self._pending))]
                    self._errors.append(f"no ack within {self._ack_timeout:g} s")

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject[len(self._reply_prefix) :]
        if token not in self._pending:
            return
        del self._pending[token]
        refusal = ack_refusal(msg)
        if refusal is not None:
            self._errors.append(refusal)
        self._acked.set()


def ack_refusal(msg: Msg) -> str | None:
    """Why JetStream refused a published message, from its ack; None if it stored it (a
    duplicate it dropped by `Nats-Msg-Id` counts as stored)."""
    if msg.headers and msg.headers.get("Status") == "503":
        return "no stream captures the subject"
    if b'"error"' in msg.data:
        error = json.loads(msg.data).get("error", {})
        return str(error.get("description", "refused by JetStream"))
    return None


FrameWriter = Callable[[bytes, int], Awaitable[None]]
"""Writes one complete protocol frame (`PUB`/`HPUB` line, headers, payload, CRLF);
the int is the payload's size, for the client's statistics."""


def frame_writer(nc: Client) -> FrameWriter | None:
    """A writer of ready-made PUB/HPUB frames into `nc`'s outgoing buffer, or None.

    Why: nats-py 2.16's `Client.publish` validates and encodes every header in Python
    (a regex match, strip, translate and three `bytearray.extend`s per header): with our
    8 envelope headers that is ~7 us a message, a third of the publisher's time. We build
    the header block ourselves (`header_block`, the same bytes) and hand the frame to what
    `publish` itself ends with: `_send_command` (append to the pending buffer, flush at
    once if over its limit) and a kick of the flusher task. Acks of the consumer runner
    use it too. These are internals, so this is the one place that touches them: if they
    are missing (another nats-py), this returns None and callers use `nc.publish`.
    Callers check `is_connected` first, so buffering while reconnecting stays nats-py's,
    and check subjects and payload sizes themselves.
    """
    send_command = getattr(nc, "_send_command", None)
    flush_pending = getattr(nc, "_flush_pending", None)
    if not callable(send_command) or not callable(flush_pending) or not hasattr(nc, "_flush_queue"):
        return None
    stats = nc.stats

    async def write(frame: bytes, payload_size: int) -> None:
        stats["out_msgs"] += 1
        stats["out_bytes"] += payload_size
        await send_command(frame)
        queue = nc._flush_queue
        if queue is not None and queue.empty():
            await flush_pending()

    return write


def framing(nc: Client) -> bool:
    """Whether frames may go straight into `nc`'s buffer now (else `nc.publish`, which
    buffers while reconnecting)."""
    return bool(nc.is_connected and not nc.is_draining)


async def write_hpub(
    nc: Client, write: FrameWriter, subject: str, reply: str, block: bytes, payload: bytes
) -> None:
    """One HPUB frame (`block` from `header_block` or `encode_headers`) through `write`;
    a payload over the server's `max_payload` is nats-py's MaxPayloadError."""
    size = len(payload)
    if size > nc.max_payload:
        raise MaxPayloadError
    head = len(block)
    line = f"HPUB {subject} {reply} {head} {head + size}\r\n".encode()
    await write(b"".join((line, block, payload, b"\r\n")), size)


def check_subject(subject: str) -> None:
    """What nats-py checks of a publish subject: not empty, no whitespace or CR/LF."""
    if not subject or any(c in subject for c in " \t\r\n"):
        raise PublishError(f"{subject!r} is not a valid NATS subject")


async def ensure_streams(js: JetStreamContext, streams: tuple[StreamSpec, ...]) -> None:
    """Create or update each stream from its spec, and the DLQ stream unless a spec is it.

    Several services provision the same streams as they start; a stream created by another
    one between our look-up and our add is updated instead.
    """
    dlq = api.StreamConfig(
        name=DLQ_STREAM,
        subjects=list(DLQ_SUBJECTS),
        retention=api.RetentionPolicy.LIMITS,
        max_age=DLQ_MAX_AGE,
        storage=api.StorageType.FILE,
        duplicate_window=120.0,
        # As many copies as the platform's streams: a dead letter is kept as well as its cause.
        num_replicas=max((spec.replicas for spec in streams), default=1),
    )
    configs = [_stream_config(spec) for spec in streams]
    if not any(c.name == DLQ_STREAM for c in configs):
        configs.append(dlq)
    for config in configs:
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except NatsError:  # another service created it meanwhile: bring it in line below
                pass
        await _apply(js.update_stream, config)


def _stream_config(spec: StreamSpec) -> api.StreamConfig:
    return api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=api.RetentionPolicy(spec.retention),
        max_age=spec.max_age or None,
        num_replicas=spec.replicas,
        duplicate_window=spec.duplicate_window,
        storage=api.StorageType(spec.storage),
    )


async def _apply(action: Any, config: api.StreamConfig) -> None:
    try:
        await action(config)
    except NatsError as exc:
        raise ConfigurationError(f"stream {config.name} could not be provisioned: {exc}") from exc
