"""Revoked sessions, as the gateway keeps them in Redis, read by every service too.

The gateway consumes `auth.session_revoked` and stores one key per revoked session, with a
TTL of what is left of the session's longest token; a service reads the same key before it
accepts a token, so a revoked token that reaches a service without crossing the gateway
(another local process, a service-to-service call) is refused as well.
This module is the Redis backend of that check.

Each process remembers the answers for a moment (`SessionAnswers`): a revoked session for
good, a session found live for `fresh_for` seconds (one by default). Every authenticated
request asked Redis before, on the gateway and again on the service behind it; now a
busy customer's session is asked about once a second per process, and a revocation takes
at most that second longer to reach a process that did not consume the event itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.http.memory import Remembered
from runtime.http.problem import ProblemError

__all__ = ["REVOKED_PREFIX", "RedisRevocations", "SessionAnswers", "revoked_key"]

REVOKED_PREFIX = "a4co:gateway"
"""The namespace of the gateway's keys; revoked sessions are `<prefix>:revoked:<hex>`."""


def revoked_key(session_id: UUID, prefix: str = REVOKED_PREFIX) -> str:
    """The Redis key that marks `session_id` as revoked."""
    return f"{prefix}:revoked:{session_id.hex}"


class SessionAnswers:
    """What this process last heard of sessions: revoked for good, live for `fresh_for` s.

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

    def put(self, session_id: UUID, revoked: bool) -> None:
        """Remember an answer: a revocation for good, a live session for `fresh_for` s."""
        until = math.inf if revoked else self._answers.now() + self._fresh_for
        self._answers.put(session_id, revoked, until)


class RedisRevocations:
    """Reads the revoked sessions; an unreachable Redis refuses the call (503), never waves it."""

    def __init__(
        self, redis: Redis, *, prefix: str = REVOKED_PREFIX, answers: SessionAnswers | None = None
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._answers = answers or SessionAnswers()

    @classmethod
    def connect(
        cls, redis_url: str | None, on_stop: Callable[[Callable[[], Awaitable[Any]]], None]
    ) -> RedisRevocations | None:
        """A reader on `redis_url` (closed through `on_stop`); None without Redis."""
        if not redis_url:
            return None
        redis = Redis.from_url(redis_url)
        on_stop(redis.aclose)
        return cls(redis)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()

    async def revoked(self, session_id: UUID) -> bool:
        """Whether the session was revoked and its tokens may not be used."""
        known = self._answers.get(session_id)
        if known is not None:
            return known
        try:
            found = await cast(
                "Awaitable[int]", self._redis.exists(revoked_key(session_id, self._prefix))
            )
        except (RedisError, OSError) as exc:
            raise ProblemError(
                503, "Service Unavailable", "Revoked sessions cannot be checked right now."
            ) from exc
        self._answers.put(session_id, bool(found))
        return bool(found)
