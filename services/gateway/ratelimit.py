"""Per-client rate limits in Redis with `limits` (moving window), shared by every replica."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from runtime.errors import ConfigurationError

__all__ = ["RateLimiter", "limits_uri"]


def limits_uri(redis_url: str) -> str:
    """The `limits` storage URI of a redis-py URL (`unix://`, `redis://`, `rediss://`)."""
    for scheme, mapped in (
        ("unix://", "async+redis+unix://"),
        ("redis://", "async+redis://"),
        ("rediss://", "async+rediss://"),
    ):
        if redis_url.startswith(scheme):
            return mapped + redis_url.removeprefix(scheme)
    raise ConfigurationError(
        f"A4CO_REDIS_URL={redis_url!r} is not a redis://, rediss:// or unix:// URL"
    )


class RateLimiter:
    """Counts each client's requests against a limit; answers how long to wait when over."""

    def __init__(self, redis_url: str, *, namespace: str) -> None:
        storage = RedisStorage(limits_uri(redis_url), implementation="redispy")
        self._limiter = MovingWindowRateLimiter(storage)
        self._namespace = namespace

    async def retry_after(self, limit: RateLimitItem, bucket: str, client: str) -> int | None:
        """Count one request; None if allowed, else the seconds until one would be."""
        if await self._limiter.hit(limit, self._namespace, bucket, client):
            return None
        stats = await self._limiter.get_window_stats(limit, self._namespace, bucket, client)
        return max(1, math.ceil(stats.reset_time - time.time()))
