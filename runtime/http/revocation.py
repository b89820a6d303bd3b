"""Revoked sessions, as the gateway keeps them in Redis, read by every service too.

The gateway consumes `auth.session_revoked` and stores one key per revoked session, with a
TTL of what is left of the session's longest token; a service reads the same key before it
accepts a token, so a revoked token that reaches a service without crossing the gateway
(another local process, a service-to-service call) is refused as well.
This module is the Redis backend of that check.

Each process remembers the answers (`SessionAnswers`): a revoked session for good, a
session found live until it is told otherwise. The gateway publishes every revocation on
a Redis channel in the same transaction as its key (`revoked_channel`), and each process
listens there, so it hears of a revocation the moment it is stored and needs to ask Redis
about a session only once. A live answer is kept that long only if it was asked while the
process was listening and nothing was missed since: when the subscription drops, every
live answer is forgotten, and until it is back a live answer holds for `fresh_for`
seconds (one by default), as it always did without a listener. Before, every
authenticated request asked Redis, on the gateway and again on the service behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.http.memory import Remembered
from runtime.http.problem import ProblemError

__all__ = [
    "REVOKED_PREFIX",
    "RedisRevocations",
    "SessionAnswers",
    "revoked_channel",
    "revoked_key",
]

log = logging.getLogger(__name__)

REVOKED_PREFIX = "a4co:gateway"
"""The namespace of the gateway's keys; revoked sessions are `<prefix>:revoked:<hex>`."""


def revoked_key(session_id: UUID, prefix: str = REVOKED_PREFIX) -> str:
    """The Redis key that marks `session_id` as revoked."""
    return f"{prefix}:revoked:{session_id.hex}"


def revoked_channel(prefix: str = REVOKED_PREFIX) -> str:
    """The Redis pub/sub channel on which each revocation's session id (hex) is published."""
    return f"{prefix}:revoked"


class SessionAnswers:
    """What this process last heard of sessions: revoked for good, live for `fresh_for` s
    (or until told otherwise, for an answer its listener vouches for).

    At most `limit` sessions, the oldest answer forgotten first; `fresh_for=0` remembers
    nothing (every question goes to Redis).
    """

    def __init__(
        self,
        *,
        fresh_for: float = 1.0,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fresh_for = fresh_for
        self._answers: Remembered[UUID, bool] = Remembered(limit if fresh_for > 0 else 0, clock)

    def get(self, session_id: UUID) -> bool | None:
        """True (revoked), False (live a moment ago), or None: ask again."""
        return self._answers.get(session_id)

    def put(self, session_id: UUID, revoked: bool, *, until_told: bool = False) -> None:
        """Remember an answer: a revocation for good; a live session for `fresh_for` s, or
        until told otherwise (`until_told`: a listener will hear of its revocation)."""
        until = math.inf if revoked or until_told else self._answers.now() + self._fresh_for
        self._answers.put(session_id, revoked, until)

    def forget_live(self) -> None:
        """Forget every live answer (the listener may have missed a revocation)."""
        self._answers.forget_where(False)


class RedisRevocations:
    """Reads the revoked sessions; an unreachable Redis refuses the call (503), never waves it.

    With `listen` (the default) it subscribes to `revoked_channel` at its first question
    and keeps listening until `close()`.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = REVOKED_PREFIX,
        answers: SessionAnswers | None = None,
        listen: bool = True,
        retry_delay: float = 1.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._answers = answers or SessionAnswers()
        self._listen = listen
        self._retry_delay = retry_delay
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._epoch = 0
        """Bumped whenever listening starts or stops: an answer asked in one epoch and
        received in another may have missed a revocation."""

    @classmethod
    def connect(
        cls, redis_url: str | None, on_stop: Callable[[Callable[[], Awaitable[Any]]], None]
    ) -> RedisRevocations | None:
        """A reader on `redis_url` (closed through `on_stop`); None without Redis."""
        if not redis_url:
            return None
        revocations = cls(Redis.from_url(redis_url))
        on_stop(revocations.close)
        return revocations

    @property
    def listening(self) -> bool:
        """Whether revocations are heard as they are published."""
        return self._listening

    async def close(self) -> None:
        """Stop listening and close the Redis connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()

    async def revoked(self, session_id: UUID) -> bool:
        """Whether the session was revoked and its tokens may not be used."""
        known = self._answers.get(session_id)
        if known is not None:
            return known
        if self._listen and self._listener is None:
            self._listener = asyncio.create_task(self._run_listener())
        epoch, vouched = self._epoch, self._listening
        try:
            found = await cast(
                "Awaitable[int]", self._redis.exists(revoked_key(session_id, self._prefix))
            )
        except (RedisError, OSError) as exc:
            raise ProblemError(
                503, "Service Unavailable", "Revoked sessions cannot be checked right now."
            ) from exc
        until_told = vouched and self._listening and self._epoch == epoch
        self._answers.put(session_id, bool(found), until_told=until_told)
        return bool(found)

    def _heard_nothing_for_a_while(self) -> None:
        self._epoch += 1
        self._listening = False
        self._answers.forget_live()

    async def _run_listener(self) -> None:
        """Listen to `revoked_channel` until cancelled, subscribing again after a failure
        (`retry_delay` seconds later, doubled after each failure in a row, at most 30 s)."""
        delay = self._retry_delay
        while True:
            epoch = self._epoch
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(revoked_channel(self._prefix))
                async for message in pubsub.listen():
                    self._hear(message)
            except (RedisError, OSError):
                log.warning("revocations: subscription lost; live sessions will be asked again")
            finally:
                self._heard_nothing_for_a_while()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            subscribed = self._epoch > epoch + 1  # a subscription's epoch, then this failure's
            delay = self._retry_delay if subscribed else min(delay * 2, 30.0)
            await asyncio.sleep(delay)

    def _hear(self, message: dict[str, Any]) -> None:
        """A (re)subscription starts an epoch; a published session id is revoked for good."""
        if message["type"] == "subscribe":
            # Subscribed (again: redis-py resubscribes by itself after a reconnection, and
            # what was published meanwhile is lost), so live answers are asked again.
            self._heard_nothing_for_a_while()
            self._listening = True
        elif message["type"] == "message":
            data = message["data"]
            try:
                session_id = UUID(hex=data.decode("ascii") if isinstance(data, bytes) else data)
            except (ValueError, TypeError, UnicodeDecodeError):
                log.warning("revocations: ignored a malformed message %r", str(data)[:64])
                return
            self._answers.put(session_id, True)
