"""Ending a session: announce SessionRevoked through the outbox, then mark it in Redis.

The event goes into the session's own stream (`session-<sid>`) in the events table, which
is the outbox: a session is announced once, however many times it is revoked, and the
announcement is published iff its transaction commits.
"""

from __future__ import annotations

from typing import Literal

from generated.auth.events import Publisher
from generated.auth.models import SessionRevokedV2
from runtime.eventstore.postgres import connection_of
from runtime.outbox.sink import StreamSink
from runtime.service import ServiceContext
from services.auth.sessions import Session, SessionStore

__all__ = ["Reason", "Revocations"]

Reason = Literal["logout", "admin", "password_changed", "expired", "refresh_token_reused"]


class Revocations:
    """Revokes sessions: the announcement first, so Redis never says revoked unannounced."""

    def __init__(self, ctx: ServiceContext, sessions: SessionStore) -> None:
        self._ctx = ctx
        self._sessions = sessions

    async def revoke(self, session: Session, reason: Reason) -> bool:
        """End `session`; True if this call ended it (False if it was already ended)."""
        sid = session.session_id
        async with self._ctx.transaction() as tx:
            await connection_of(tx).execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.auth.session.{sid}"
            )
            stream = f"session-{sid}"
            announced = await tx.stream_version(stream) == 0
            sink = StreamSink(tx, stream, 0)
            if announced:
                await Publisher(sink).session_revoked_v2(
                    SessionRevokedV2(
                        session_id=sid,
                        user_id=session.user_id,
                        reason=reason,
                        revoked_at=self._ctx.clock(),
                    ),
                    aggregate_id=str(sid),
                )
        marked = await self._sessions.mark_revoked(sid)
        return announced or marked
