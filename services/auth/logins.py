"""The logins table: who may log in (e-mail, role) and their password hash.

A login is made from UserRegistered and from UserCredentialsSet, in whichever order they
arrive: each inserts the row if absent and fills in what it carries, so both together give
a whole login. A later password (by `password_set_at`) replaces an earlier one.

The two events come on separate consumers, so their inserts can run at once. The upsert
arbitrates only on `user_id`; PostgreSQL checks the e-mail's unique index without waiting
for the arbiter, so two concurrent inserts of the same new login would fail one of them
with a unique violation. Each write therefore first takes a transaction-scoped advisory
lock on the e-mail, which makes the second insert see the first one's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = ["Login", "LoginViews"]

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".logins (
    user_id uuid PRIMARY KEY, email text NOT NULL, role text NOT NULL,
    password_hash text, password_set_at timestamptz, updated_at timestamptz NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS logins_email_key ON "{s}".logins (lower(email));
"""


@dataclass(frozen=True, slots=True)
class Login:
    """One user's login; `password_hash` is None until UserCredentialsSet arrives."""

    user_id: UUID
    email: str
    role: str
    password_hash: str | None


class LoginViews:
    """SQL of the logins table in the auth schema."""

    def __init__(self, schema: str) -> None:
        self._schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the table if missing."""
        await connection.execute(_DDL.format(s=self._schema))

    @staticmethod
    async def _lock(connection: Any, email: str) -> None:
        """Hold the e-mail's advisory lock until the transaction ends."""
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(lower($1), 0))", email
        )

    async def by_email(self, connection: Any, email: str) -> Login | None:
        """The login of `email`, case-insensitively."""
        row = await connection.fetchrow(
            f"SELECT user_id, email, role, password_hash FROM {self._s}.logins"
            " WHERE lower(email) = lower($1)",
            email,
        )
        return Login(**dict(row)) if row else None

    async def exists(self, connection: Any, user_id: UUID) -> bool:
        """Whether `user_id` has a login."""
        return bool(
            await connection.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {self._s}.logins WHERE user_id = $1)", user_id
            )
        )

    async def registered(
        self, connection: Any, user_id: UUID, email: str, role: str, now: datetime
    ) -> None:
        """Create the login, or set its e-mail and role (idempotent)."""
        await self._lock(connection, email)
        await connection.execute(
            f"INSERT INTO {self._s}.logins (user_id, email, role, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE"
            " SET email = excluded.email, role = excluded.role, updated_at = excluded.updated_at",
            user_id,
            email,
            role,
            now,
        )

    async def credentials_set(
        self, connection: Any, login: Login, set_at: datetime, now: datetime
    ) -> None:
        """Create the login with its password, or store the password unless a later one is."""
        await self._lock(connection, login.email)
        await connection.execute(
            f"INSERT INTO {self._s}.logins AS l VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,"
            " password_set_at = excluded.password_set_at, updated_at = excluded.updated_at"
            " WHERE l.password_set_at IS NULL OR l.password_set_at < excluded.password_set_at",
            login.user_id,
            login.email,
            login.role,
            login.password_hash,
            set_at,
            now,
        )
