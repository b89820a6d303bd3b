"""Sessions whose tokens the gateway refuses: revoked before their tokens expired.

Kept in Redis (every replica sees what any replica's consumer stored, and every service
reads the same keys: `runtime.http.revocation`) with a TTL equal to what is left of the
last token's lifetime, published on the revocations channel in the same transaction, and
mirrored in a set in this process so that the replica that consumed the event answers
without a round trip. The other replicas, and every service, hear of it on the channel.
The read is the services' own (`RedisRevocations`), so an unreachable Redis refuses the
request (503) here as there.
"""

from __future__ import annotations

import time
from datetime import datetime
from uuid import UUID

from redis.asyncio import Redis

from runtime.http.revocation import (
    REVOKED_PREFIX,
    RedisRevocations,
    SessionAnswers,
    revoked_channel,
    revoked_key,
)

__all__ = ["DenyList"]


class DenyList:
    """Revoked session ids, until the tokens of the session have expired anyway."""

    def __init__(
        self,
        redis: Redis,
        *,
        lifetime: int,
        prefix: str = REVOKED_PREFIX,
        answers: SessionAnswers | None = None,
        listen: bool = True,
    ) -> None:
        self._redis = redis
        self._lifetime = lifetime
        self._prefix = prefix
        # The same read every service makes (and answers 503 when Redis is unreachable).
        self._revocations = RedisRevocations(redis, prefix=prefix, answers=answers, listen=listen)
        self._local: dict[UUID, float] = {}  # session id -> when its entry expires (epoch s)

    async def close(self) -> None:
        """Stop listening and close the Redis connections."""
        await self._revocations.close()

    async def deny(self, session_id: UUID, revoked_at: datetime) -> None:
        """Refuse the session's tokens for what is left of the longest token's lifetime."""
        expires = revoked_at.timestamp() + self._lifetime
        ttl = int(expires - time.time()) + 1
        if ttl <= 0:
            return  # every token of the session has expired already
        self._local[session_id] = expires
        async with self._redis.pipeline(transaction=True) as both:
            both.set(revoked_key(session_id, self._prefix), b"1", ex=ttl)
            both.publish(revoked_channel(self._prefix), session_id.hex)
            await both.execute()

    async def denied(self, session_id: UUID) -> bool:
        """Whether the session was revoked (this process's set first, then Redis); a
        ProblemError (503) when Redis cannot be asked."""
        expires = self._local.get(session_id)
        if expires is not None:
            if expires > time.time():
                return True
            del self._local[session_id]
        return await self._revocations.revoked(session_id)
