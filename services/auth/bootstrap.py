"""The bootstrap administrator: a login made at start-up so that someone can administer."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg

from runtime.errors import ConfigurationError
from runtime.http.passwords import hash_password
from services.auth.domain import BOOTSTRAP_ADMIN_ENV, BootstrapAdmin
from services.auth.logins import Login, LoginViews

__all__ = ["ensure_admin"]


async def ensure_admin(
    connection: Any, logins: LoginViews, admin: BootstrapAdmin, now: datetime
) -> bool:
    """Create the admin's login if absent (its password is not reset); True if created."""
    if await logins.exists(connection, admin.user_id):
        return False
    password_hash = await asyncio.to_thread(hash_password, admin.password)
    login = Login(admin.user_id, admin.email, "admin", password_hash)
    try:
        async with connection.transaction():  # a savepoint: the error must not end the tx
            await logins.credentials_set(connection, login, now, now)
    except asyncpg.UniqueViolationError as exc:
        raise ConfigurationError(
            f"{BOOTSTRAP_ADMIN_ENV} names {admin.email}, which another user already logs in as"
        ) from exc
    return True
