"""Sessions and refresh tokens in Redis, keyed by session id (the tokens' `sid` claim).

A session is a hash: user, roles, scope, state, expiry and the digest of its one current
refresh token. Each refresh rotates the token (a Lua script, so two refreshes with the
same token cannot both win); digests of used tokens are kept, so presenting one again is
recognised as reuse (a stolen token) and the caller revokes the session.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis

__all__ = ["Rotation", "Session", "SessionStore"]

_ROTATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local state = redis.call('HGET', KEYS[1], 'state')
if redis.call('HGET', KEYS[1], 'refresh') == ARGV[1] then
  if state ~= 'active' then return 'revoked' end
  redis.call('HSET', KEYS[1], 'refresh', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], redis.call('TTL', KEYS[1]))
  return 'rotated'
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  if state == 'active' then return 'reused' end
  return 'revoked'
end
return 'unknown'
"""

_REVOKE = """
if redis.call('HGET', KEYS[1], 'state') == 'active' then
  redis.call('HSET', KEYS[1], 'state', 'revoked')
  return 1
end
return 0
"""


class Rotation(StrEnum):
    """What presenting a refresh token did."""

    ROTATED = "rotated"
    """It was the current token; the session now has the new one."""
    REUSED = "reused"
    """It was an already used token of an active session: a replay."""
    REVOKED = "revoked"
    """Its session was revoked."""
    UNKNOWN = "unknown"
    """No session knows it (expired, forged)."""


@dataclass(frozen=True, slots=True)
class Session:
    """A login session."""

    session_id: UUID
    user_id: UUID
    roles: tuple[str, ...]
    scope: str
    active: bool
    expires_at: int
    refresh: str
    """Digest of the current refresh token."""


class SessionStore:
    """Sessions in Redis under `<prefix>session:<sid>`."""

    def __init__(self, redis: Redis, prefix: str = "a4co:auth:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._rotate: Any = redis.register_script(_ROTATE)
        self._revoke: Any = redis.register_script(_REVOKE)

    async def create(self, session: Session) -> None:
        """Store a new session; it expires at `session.expires_at`."""
        key = self._key(session.session_id)
        fields = {
            "user_id": str(session.user_id),
            "roles": " ".join(session.roles),
            "scope": session.scope,
            "state": "active" if session.active else "revoked",
            "expires_at": str(session.expires_at),
            "refresh": session.refresh,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expireat(key, session.expires_at)
            await pipe.execute()

    async def get(self, session_id: UUID) -> Session | None:
        """The session, revoked or not; None once it expired or if it never existed."""
        fields = await cast(
            "Awaitable[dict[bytes, bytes]]", self._redis.hgetall(self._key(session_id))
        )
        if not fields:
            return None
        value = {k.decode(): v.decode() for k, v in fields.items()}
        return Session(
            session_id=session_id,
            user_id=UUID(value["user_id"]),
            roles=tuple(value["roles"].split()),
            scope=value["scope"],
            active=value["state"] == "active" and int(value["expires_at"]) > time.time(),
            expires_at=int(value["expires_at"]),
            refresh=value["refresh"],
        )

    async def is_active(self, session_id: UUID) -> bool:
        """Whether the session exists and is not revoked (one round trip)."""
        state = await cast(
            "Awaitable[bytes | None]", self._redis.hget(self._key(session_id), "state")
        )
        return state == b"active"

    async def rotate(self, session_id: UUID, presented: str, replacement: str) -> Rotation:
        """Exchange the current refresh digest `presented` for `replacement`, atomically."""
        key = self._key(session_id)
        outcome = await self._rotate(keys=[key, f"{key}:used"], args=[presented, replacement])
        return Rotation(outcome.decode() if isinstance(outcome, bytes) else outcome)

    async def mark_revoked(self, session_id: UUID) -> bool:
        """Revoke the session; True if it was active until now."""
        return bool(await self._revoke(keys=[self._key(session_id)]))

    def _key(self, session_id: UUID) -> str:
        return f"{self._prefix}session:{session_id.hex}"
