"""The auth service's composition root."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio
from fastapi import APIRouter

from generated.auth.api import build_router
from generated.auth.events import SUBSCRIPTIONS
from runtime.errors import ConfigurationError
from runtime.eventstore.postgres import connection_of
from runtime.service import Job, ServiceContext, ServiceDefinition
from services.auth.api import AuthApi
from services.auth.bootstrap import ensure_admin
from services.auth.domain import BOOTSTRAP_ADMIN_ENV, BootstrapAdmin
from services.auth.handlers import AuthHandlers
from services.auth.keys import KeyStore
from services.auth.logins import LoginViews
from services.auth.revocations import Revocations
from services.auth.sessions import SessionStore

__all__ = ["NAME", "definition"]

NAME = "auth"
KEY_RELOAD_INTERVAL = 10.0
"""Seconds between reloads of the key set (how soon a replica sees another's rotation)."""


def definition(
    *,
    bootstrap_admin: str | None = None,
    key_rotation: timedelta = timedelta(days=30),
) -> ServiceDefinition:
    """The auth service; `bootstrap_admin` (`email:password`) defaults to A4CO_BOOTSTRAP_ADMIN."""
    raw_admin = (
        bootstrap_admin if bootstrap_admin is not None else os.environ.get(BOOTSTRAP_ADMIN_ENV, "")
    )
    admin = BootstrapAdmin.parse(raw_admin) if raw_admin else None
    keys, logins = KeyStore(NAME, key_rotation), LoginViews(NAME)

    async def migrate(connection: Any) -> None:
        await logins.migrate(connection)
        await keys.migrate(connection, datetime.now(UTC))
        if admin is not None:
            await ensure_admin(connection, logins, admin, datetime.now(UTC))

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        sessions = _sessions(ctx)
        api = AuthApi(
            ctx,
            keys=keys,
            logins=logins,
            sessions=sessions,
            revocations=Revocations(ctx, sessions),
        )
        return [build_router(api)]

    def jobs(ctx: ServiceContext, _handlers: object) -> Sequence[Job]:
        async def rotate() -> None:
            async with ctx.transaction() as tx:
                await keys.rotate_if_due(connection_of(tx), ctx.clock())

        return [Job("auth signing keys", KEY_RELOAD_INTERVAL, rotate)]

    def handlers(ctx: ServiceContext) -> AuthHandlers:
        _sessions(ctx)  # fail at start, before consuming, when Redis is not configured
        return AuthHandlers(ctx, logins)

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=handlers,
        routers=routers,
        migrate=migrate,
        jobs=jobs,
        verifier=lambda _ctx: keys,
    )


def _sessions(ctx: ServiceContext) -> SessionStore:
    """The context's session store, made on first use from `A4CO_REDIS_URL`."""
    store = ctx.extras.get("auth.sessions")
    if store is None:
        if not ctx.settings.redis_url:
            raise ConfigurationError(
                "the auth service keeps sessions and refresh tokens in Redis and needs "
                "A4CO_REDIS_URL; `make run` sets it"
            )
        client = redis.asyncio.from_url(ctx.settings.redis_url)
        store = SessionStore(client)
        ctx.extras["auth.sessions"] = store
        ctx.on_stop(client.aclose)
    assert isinstance(store, SessionStore)
    return store
