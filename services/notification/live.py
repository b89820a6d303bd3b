"""The live stream: realtime notifications fanned out through Redis pub/sub.

A handler publishes each realtime notification, after its transaction commits, on the
user's channel (`a4co:notification:user:<id>`). Every replica listens to all user
channels with one pattern subscription and hands each message to the streams its own
clients opened, so a notification handled by one replica reaches a client connected to
another. One Redis connection per replica rather than one per client; the price is that
every replica reads every realtime notification, which is small.

A stream is a server-sent event stream: a `notification` event per notification and a
`: keep-alive` comment every `heartbeat` seconds, so proxies keep it open. It ends when
the client goes away (Starlette cancels it) or when the service stops (the listener, a
service job, closes every stream). While a stream is open its user counts as online
(a Redis hash per user, refreshed at each heartbeat), which chat alerts consult.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import cast
from uuid import UUID

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from generated.notification.models import Notification

__all__ = ["DEFAULT_HEARTBEAT", "LiveFeed", "sse_event"]

DEFAULT_HEARTBEAT = 15.0
"""Seconds between keep-alive comments, as the contract says."""

QUEUE_SIZE = 256
"""Notifications a slow client may fall behind by before newer ones are dropped for it."""

log = logging.getLogger(__name__)


def sse_event(notification: Notification) -> bytes:
    """One `notification` server-sent event, its id the notification's."""
    return (
        f"event: notification\nid: {notification.notification_id}\n"
        f"data: {notification.model_dump_json()}\n\n"
    ).encode()


class LiveFeed:
    """Publishes realtime notifications and serves the streams of this replica's clients."""

    def __init__(
        self, redis_url: str, *, heartbeat: float = DEFAULT_HEARTBEAT, prefix: str = "a4co"
    ) -> None:
        self._redis = aioredis.from_url(redis_url)
        self.heartbeat = heartbeat
        self._prefix = f"{prefix}:notification"
        self._streams: dict[UUID, set[asyncio.Queue[Notification | None]]] = {}
        self.listening = asyncio.Event()

    def channel(self, user_id: UUID) -> str:
        """The pub/sub channel of one user."""
        return f"{self._prefix}:user:{user_id}"

    def open_streams(self, user_id: UUID | None = None) -> int:
        """How many streams this replica serves (to one user, or to all)."""
        if user_id is not None:
            return len(self._streams.get(user_id, ()))
        return sum(len(queues) for queues in self._streams.values())

    async def publish(self, notifications: list[Notification]) -> None:
        """Send each notification to its user's channel (call after the commit)."""
        if not notifications:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in notifications:
                pipe.publish(self.channel(n.user_id), n.model_dump_json())
            await pipe.execute()

    async def online(self, user_id: UUID) -> bool:
        """Whether the user has a live stream open on any replica."""
        expiries = await cast("Awaitable[list[bytes]]", self._redis.hvals(self._presence(user_id)))
        now = time.time()
        return any(float(expiry) > now for expiry in expiries)

    async def listen(self) -> None:
        """Hand every user channel's messages to this replica's streams; run as a job.

        When it ends (the service stops, or Redis failed and the job restarts) every open
        stream is closed: clients reconnect (EventSource does so by itself).
        """
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(f"{self._prefix}:user:*")
            self.listening.set()
            async for message in pubsub.listen():
                self._dispatch(message)
        finally:
            self.listening.clear()
            self._close_streams()
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()

    async def stream(self, user_id: UUID) -> AsyncIterator[bytes]:
        """The server-sent events of one client, until it leaves or the service stops."""
        queue: asyncio.Queue[Notification | None] = asyncio.Queue(QUEUE_SIZE)
        self._streams.setdefault(user_id, set()).add(queue)
        stream_id = uuid.uuid4().hex
        try:
            await self._mark_online(user_id, stream_id)
            yield b"retry: 3000\n: connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat)
                except TimeoutError:
                    await self._mark_online(user_id, stream_id)
                    yield b": keep-alive\n\n"
                    continue
                if item is None:
                    return
                yield sse_event(item)
        finally:
            self._forget(user_id, queue)
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await self._mark_offline(user_id, stream_id)

    def _dispatch(self, message: dict[str, object]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        try:
            user_id = UUID(channel.decode().rsplit(":", 1)[-1])
            notification = Notification.model_validate_json(data)
        except ValueError:
            log.warning("ignored a malformed message on %s", channel.decode(errors="replace"))
            return
        for queue in self._streams.get(user_id, ()):
            try:
                queue.put_nowait(notification)
            except asyncio.QueueFull:
                log.warning("a stream of user %s fell behind; dropped a notification", user_id)

    def _close_streams(self) -> None:
        for queues in self._streams.values():
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    def _forget(self, user_id: UUID, queue: asyncio.Queue[Notification | None]) -> None:
        queues = self._streams.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._streams[user_id]

    def _presence(self, user_id: UUID) -> str:
        return f"{self._prefix}:online:{user_id}"

    async def _mark_online(self, user_id: UUID, stream_id: str) -> None:
        key, ttl = self._presence(user_id), 3 * self.heartbeat
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, stream_id, str(time.time() + ttl))
                pipe.expire(key, int(ttl) + 1)
                await pipe.execute()
        except RedisError:  # presence only steers chat alerts to push; the stream goes on
            log.warning("could not mark user %s online", user_id, exc_info=True)

    async def _mark_offline(self, user_id: UUID, stream_id: str) -> None:
        try:
            await cast("Awaitable[int]", self._redis.hdel(self._presence(user_id), stream_id))
        except RedisError:  # the entry expires by itself within three heartbeats
            log.warning("could not mark user %s offline", user_id, exc_info=True)
