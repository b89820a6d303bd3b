"""Revoked sessions, as the gateway keeps them in Redis, read by every service too.

The gateway consumes `auth.session_revoked` and stores one key per revoked session, with a
TTL of what is left of the session's longest token; a service reads the same key before it
accepts a token, so a revoked token that reaches a service without crossing the gateway
(another local process, a service-to-service call) is refused as well.
This module is the Redis backend of that check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.http.problem import ProblemError

__all__ = ["REVOKED_PREFIX", "RedisRevocations", "revoked_key"]

REVOKED_PREFIX = "a4co:gateway"
"""The namespace of the gateway's keys; revoked sessions are `<prefix>:revoked:<hex>`."""


def revoked_key(session_id: UUID, prefix: str = REVOKED_PREFIX) -> str:
    """The Redis key that marks `session_id` as revoked."""
    return f"{prefix}:revoked:{session_id.hex}"


class RedisRevocations:
    """Reads the revoked sessions; an unreachable Redis refuses the call (503), never waves it."""

    def __init__(self, redis: Redis, *, prefix: str = REVOKED_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

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

    async def revoked(self, session_id: UUID) -> bool:
        """Whether the session was revoked and its tokens may not be used."""
        try:
            found = await cast(
                "Awaitable[int]", self._redis.exists(revoked_key(session_id, self._prefix))
            )
        except (RedisError, OSError) as exc:
            raise ProblemError(
                503, "Service Unavailable", "Revoked sessions cannot be checked right now."
            ) from exc
        return bool(found)
