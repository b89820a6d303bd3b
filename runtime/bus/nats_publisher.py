"""Publishing to JetStream: one awaited publish, or a pipeline with many acks in flight.

`NatsEventSink.send` waits for the ack of each message. `NatsEventSink.pipeline()` gives
an `EventSink` whose `send` returns once the message is written, with up to `window` acks
in flight on one wildcard inbox; leaving the block waits for every ack and raises
`PublishError` if any message was refused. Streams are provisioned by `ensure_streams`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from runtime.bus.envelope import build_headers
from runtime.bus.failures import PublishError
from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription
    from nats.js import JetStreamContext

    from runtime.bus.base import Channel, MessageContext, StreamSpec

__all__ = ["DLQ_STREAM", "NatsEventSink", "PipelinedSink", "ensure_streams"]

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
        data = payload.model_dump_json().encode()
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
    """An `EventSink` whose sends are acknowledged together, on one wildcard inbox."""

    def __init__(self, nc: Client, *, window: int, ack_timeout: float) -> None:
        if window < 1:
            raise ConfigurationError(f"a publish window must be at least 1, not {window}")
        self._nc = nc
        self._window = window
        self._ack_timeout = ack_timeout
        self._prefix = nc.new_inbox()
        self._next = 0
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._errors: list[str] = []
        self._inbox: NatsSubscription | None = None

    async def open(self) -> None:
        """Subscribe to the inbox that receives the acks."""
        self._inbox = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_ack)

    async def close(self) -> None:
        """Stop listening for acks; unacknowledged sends are abandoned."""
        if self._inbox is not None:
            await self._inbox.unsubscribe()
            self._inbox = None
        for future in self._pending.values():
            future.cancel()
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
        while len(self._pending) >= self._window:
            await self._wait_oldest()
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=message_id
        )
        token = str(self._next)
        self._next += 1
        self._pending[token] = asyncio.get_running_loop().create_future()
        data = payload.model_dump_json().encode()
        try:
            await self._nc.publish(
                channel.subject, data, reply=f"{self._prefix}.{token}", headers=headers
            )
        except NatsError as exc:
            self._pending.pop(token).cancel()
            raise PublishError(f"could not write a message on {channel.subject}: {exc}") from exc
        return headers["ce-id"]

    async def flush(self) -> None:
        """Wait for every outstanding ack; raise `PublishError` if any message was refused."""
        await self._nc.flush()
        while self._pending:
            await self._wait_oldest()
        if self._errors:
            errors, self._errors = self._errors, []
            raise PublishError(f"{len(errors)} message(s) were not stored; the first: {errors[0]}")

    async def _wait_oldest(self) -> None:
        token = next(iter(self._pending))
        try:
            await asyncio.wait_for(asyncio.shield(self._pending[token]), self._ack_timeout)
        except TimeoutError:
            self._pending.pop(token, None)
            self._errors.append(f"no ack within {self._ack_timeout:g} s")

    async def _on_ack(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None:
            return
        if msg.headers and msg.headers.get("Status") == "503":
            self._errors.append("no stream captures the subject")
        elif b'"error"' in msg.data:
            error = json.loads(msg.data).get("error", {})
            self._errors.append(str(error.get("description", "refused by JetStream")))
        future.set_result(None)


async def ensure_streams(js: JetStreamContext, streams: tuple[StreamSpec, ...]) -> None:
    """Create or update each stream from its spec, and the DLQ stream that takes `dlq.>`."""
    dlq = api.StreamConfig(
        name=DLQ_STREAM,
        subjects=list(DLQ_SUBJECTS),
        retention=api.RetentionPolicy.LIMITS,
        max_age=DLQ_MAX_AGE,
        storage=api.StorageType.FILE,
        duplicate_window=120.0,
    )
    for config in [*(_stream_config(spec) for spec in streams), dlq]:
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            await _apply(js.add_stream, config)
        else:
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
