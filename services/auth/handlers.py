"""The auth service's message handlers: make logins from the user service's events."""

from __future__ import annotations

import asyncpg

from generated.auth.models import UserCredentialsSet, UserRegistered
from runtime.bus.base import MessageContext
from runtime.bus.failures import PermanentError
from runtime.eventstore.postgres import connection_of
from runtime.service import ServiceContext
from services.auth.logins import Login, LoginViews

__all__ = ["AuthHandlers"]


class AuthHandlers:
    """Implements `generated.auth.events.Handlers`; each handler is idempotent."""

    def __init__(self, ctx: ServiceContext, logins: LoginViews) -> None:
        self._ctx = ctx
        self._logins = logins

    async def on_user_registered(self, message: UserRegistered, context: MessageContext) -> None:
        """Create the login (or complete it, if the credentials came first)."""
        async with self._ctx.handling(context, "on_user_registered") as tx:
            if tx is None:
                return
            try:
                await self._logins.registered(
                    connection_of(tx),
                    message.user_id,
                    message.email,
                    message.role,
                    self._ctx.clock(),
                )
            except asyncpg.UniqueViolationError as exc:
                raise _taken(message.email) from exc

    async def on_user_credentials_set(
        self, message: UserCredentialsSet, context: MessageContext
    ) -> None:
        """Store the password hash, creating the login if UserRegistered has not come yet."""
        async with self._ctx.handling(context, "on_user_credentials_set") as tx:
            if tx is None:
                return
            login = Login(message.user_id, message.email, message.role, message.password_hash)
            try:
                await self._logins.credentials_set(
                    connection_of(tx), login, message.set_at, self._ctx.clock()
                )
            except asyncpg.UniqueViolationError as exc:
                raise _taken(message.email) from exc


def _taken(email: str) -> PermanentError:
    return PermanentError(f"another user already logs in as {email}")
