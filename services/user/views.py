"""The user service's own tables: the users read model, interests and preferences.

`users` is the read model of each `user-<id>` stream (UserRegistered, UserProfileUpdated,
UserBehaviorTracked, UserSegmentChanged; UserCredentialsSet only moves its version),
written in the same transaction as the events (a synchronous projection), so a GET right
after a POST sees the user. Its `delivered_orders` and `loyalty_tier` are facts other
services announce: the handlers write them directly. `interests` counts product actions
per category (from UserBehaviorTracked); `preferences` is plain state, replaced by a PUT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from generated.user.models import UserPreferences, UserProfile
from runtime.eventstore.base import RecordedEvent, Transaction
from runtime.eventstore.postgres import connection_of
from services.user.domain import PRODUCT_ACTIONS, Standing

__all__ = ["DEFAULT_PREFERENCES", "LockedUser", "UserViews"]

DEFAULT_PREFERENCES = UserPreferences(
    favourite_categories=[], language="es", email_notifications=True, push_notifications=False
)
"""What GET answers for a user who never set preferences."""

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".users (
    user_id uuid PRIMARY KEY, email text NOT NULL, full_name text NOT NULL,
    role text NOT NULL, province text NOT NULL, segment text NOT NULL,
    loyalty_tier text, loyalty_changed_at timestamptz,
    delivered_orders integer NOT NULL DEFAULT 0, registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL, version integer NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON "{s}".users (lower(email));
CREATE TABLE IF NOT EXISTS "{s}".interests (
    user_id uuid NOT NULL, category text NOT NULL, actions integer NOT NULL,
    PRIMARY KEY (user_id, category));
CREATE TABLE IF NOT EXISTS "{s}".preferences (
    user_id uuid PRIMARY KEY, favourite_categories text[] NOT NULL, language text NOT NULL,
    email_notifications boolean NOT NULL, push_notifications boolean NOT NULL,
    updated_at timestamptz NOT NULL);
"""

_PROFILE_COLUMNS = (
    "user_id, email, full_name, role, province, segment, loyalty_tier, delivered_orders,"
    " registered_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class LockedUser:
    """A user's row, locked for this transaction, with its stream version."""

    profile: UserProfile
    version: int


class UserViews:
    """SQL of the user service's tables in one schema (`user` is reserved: always quoted)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = f'"{schema}"'

    async def migrate(self, connection: Any) -> None:
        """Create the tables if missing; concurrent hosts wait for each other."""
        async with connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.migrate.{self.schema}.views"
            )
            await connection.execute(_DDL.format(s=self.schema))

    async def get(self, tx: Transaction, user_id: UUID) -> UserProfile | None:
        """One profile: a single-row primary-key read."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_PROFILE_COLUMNS} FROM {self._s}.users WHERE user_id = $1", user_id
        )
        return UserProfile.model_validate(dict(row)) if row else None

    async def lock(self, tx: Transaction, user_id: UUID) -> LockedUser | None:
        """The user's row, locked until the transaction ends (writers of a user queue here)."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_PROFILE_COLUMNS}, version FROM {self._s}.users"
            " WHERE user_id = $1 FOR UPDATE",
            user_id,
        )
        if row is None:
            return None
        values = dict(row)
        version = values.pop("version")
        return LockedUser(UserProfile.model_validate(values), version)

    async def email_taken(self, tx: Transaction, email: str) -> bool:
        """Whether a user has `email` (case-insensitively); serialises registrations of it."""
        connection = connection_of(tx)
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.user.email.{email.lower()}"
        )
        return bool(
            await connection.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {self._s}.users WHERE lower(email) = lower($1))",
                email,
            )
        )

    async def standing(self, tx: Transaction, user: LockedUser) -> Standing:
        """What the segment rule needs to know of a (locked) user."""
        rows = await connection_of(tx).fetch(
            f"SELECT category, actions FROM {self._s}.interests WHERE user_id = $1",
            user.profile.user_id,
        )
        profile = user.profile
        return Standing(
            role=profile.role,
            delivered_orders=profile.delivered_orders,
            loyalty_tier=profile.loyalty_tier,
            interests={r["category"]: r["actions"] for r in rows},
        )

    async def count_delivered_order(self, tx: Transaction, user_id: UUID, now: datetime) -> None:
        """Add one delivered order to the user's count."""
        await connection_of(tx).execute(
            f"UPDATE {self._s}.users SET delivered_orders = delivered_orders + 1,"
            " updated_at = $2 WHERE user_id = $1",
            user_id,
            now,
        )

    async def set_loyalty_tier(
        self, tx: Transaction, user_id: UUID, tier: str, changed_at: datetime, now: datetime
    ) -> bool:
        """Store the tier unless a later change is already stored; True if it was stored."""
        updated = await connection_of(tx).fetchval(
            f"UPDATE {self._s}.users SET loyalty_tier = $2, loyalty_changed_at = $3,"
            " updated_at = $4 WHERE user_id = $1"
            " AND (loyalty_changed_at IS NULL OR loyalty_changed_at < $3) RETURNING true",
            user_id,
            tier,
            changed_at,
            now,
        )
        return bool(updated)

    async def preferences(self, tx: Transaction, user_id: UUID) -> UserPreferences | None:
        """The user's stored preferences, or None when they never set any."""
        row = await connection_of(tx).fetchrow(
            "SELECT favourite_categories, language, email_notifications, push_notifications"
            f" FROM {self._s}.preferences WHERE user_id = $1",
            user_id,
        )
        return UserPreferences.model_validate(dict(row)) if row else None

    async def replace_preferences(
        self, tx: Transaction, user_id: UUID, preferences: UserPreferences, now: datetime
    ) -> None:
        """Store `preferences` in place of the user's previous ones."""
        await connection_of(tx).execute(
            f"INSERT INTO {self._s}.preferences VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (user_id) DO UPDATE SET"
            " favourite_categories = excluded.favourite_categories,"
            " language = excluded.language, email_notifications = excluded.email_notifications,"
            " push_notifications = excluded.push_notifications, updated_at = excluded.updated_at",
            user_id,
            list(preferences.favourite_categories),
            preferences.language,
            preferences.email_notifications,
            preferences.push_notifications,
            now,
        )

    async def project(self, tx: Transaction, events: list[RecordedEvent]) -> None:
        """Apply a user's newly recorded events to the read model."""
        for event in events:
            await self._apply(connection_of(tx), event)

    async def _apply(self, connection: Any, event: RecordedEvent) -> None:
        data: dict[str, Any] = json.loads(event.payload)
        kind = event.type.removeprefix("a4co.user.").rsplit(".", 1)[0]
        user_id, version = UUID(data["user_id"]), event.version
        if kind == "registered":
            at = datetime.fromisoformat(data["registered_at"])
            await connection.execute(
                f"INSERT INTO {self._s}.users (user_id, email, full_name, role, province,"
                " segment, registered_at, updated_at, version)"
                " VALUES ($1, $2, $3, $4, $5, 'new', $6, $6, $7) ON CONFLICT (user_id) DO NOTHING",
                user_id,
                data["email"],
                data["full_name"],
                data["role"],
                data["province"],
                at,
                version,
            )
        elif kind == "profile_updated":
            await connection.execute(
                f"UPDATE {self._s}.users SET full_name = $2, province = coalesce($3, province),"
                " updated_at = $4, version = $5 WHERE user_id = $1 AND version < $5",
                user_id,
                data["full_name"],
                data.get("province"),
                datetime.fromisoformat(data["updated_at"]),
                version,
            )
        elif kind == "segment_changed":
            await connection.execute(
                f"UPDATE {self._s}.users SET segment = $2, updated_at = $3, version = $4"
                " WHERE user_id = $1 AND version < $4",
                user_id,
                data["to_segment"],
                datetime.fromisoformat(data["changed_at"]),
                version,
            )
        elif kind == "behavior_tracked":
            await self._track(connection, user_id, version, data)
        elif kind == "credentials_set":  # nothing to show: only the stream's version moves
            await connection.execute(
                f"UPDATE {self._s}.users SET version = $2 WHERE user_id = $1 AND version < $2",
                user_id,
                version,
            )

    async def _track(
        self, connection: Any, user_id: UUID, version: int, data: dict[str, Any]
    ) -> None:
        """Follow the stream's version; count a product action in its category."""
        counted = data["action"] in PRODUCT_ACTIONS and data.get("category") is not None
        await connection.execute(
            f"WITH bumped AS (UPDATE {self._s}.users SET version = $2"
            " WHERE user_id = $1 AND version < $2 RETURNING user_id)"
            f" INSERT INTO {self._s}.interests AS i"
            " SELECT user_id, $3, 1 FROM bumped WHERE $3::text IS NOT NULL"
            " ON CONFLICT (user_id, category) DO UPDATE SET actions = i.actions + 1",
            user_id,
            version,
            data.get("category") if counted else None,
        )
