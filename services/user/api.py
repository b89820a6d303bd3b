"""The user service's REST API: register, profiles, preferences and behaviour tracking."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

from generated.user.models import (
    RegisterUserRequest,
    TrackBehaviorRequest,
    UpdateProfileRequest,
    UserBehaviorTracked,
    UserCredentialsSet,
    UserPreferences,
    UserProfile,
    UserProfileUpdated,
    UserRegistered,
)
from runtime.eventstore.base import Transaction
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.http.passwords import hash_password
from runtime.service import ServiceContext
from services.user.domain import PRODUCT_ACTIONS
from services.user.users import Users
from services.user.views import DEFAULT_PREFERENCES, LockedUser

__all__ = ["UserApi"]


class UserApi:
    """Implements `generated.user.api.Api`."""

    def __init__(self, ctx: ServiceContext, users: Users) -> None:
        self._ctx = ctx
        self._users = users
        self._views = users.views

    async def register_user(self, body: RegisterUserRequest) -> UserProfile:
        """Record UserRegistered, UserCredentialsSet when a password is given (the outbox
        publishes them) and the profile, together; the password is hashed, never kept."""
        user_id, now = uuid.uuid4(), self._ctx.clock()
        password_hash = (
            None if body.password is None else await asyncio.to_thread(hash_password, body.password)
        )
        async with self._ctx.transaction() as tx:
            if await self._views.email_taken(tx, body.email):
                raise ProblemError(409, "Conflict", f"{body.email} is already registered.")
            publisher, sink = self._users.publisher(tx, user_id, 0)
            await publisher.user_registered(
                UserRegistered(
                    user_id=user_id, **body.model_dump(exclude={"password"}), registered_at=now
                ),
                aggregate_id=str(user_id),
            )
            if password_hash is not None:
                await publisher.user_credentials_set(
                    UserCredentialsSet(
                        user_id=user_id,
                        email=body.email,
                        role=body.role,
                        password_hash=password_hash,
                        set_at=now,
                    ),
                    aggregate_id=str(user_id),
                )
            await self._views.project(tx, await sink.flush())
            profile = await self._views.get(tx, user_id)
        assert profile is not None
        return profile

    async def get_profile(self, principal: Principal, user_id: UUID) -> UserProfile:
        """One profile from the users table."""
        principal.require_owner(user_id, "this profile")
        async with self._ctx.transaction() as tx:
            profile = await self._views.get(tx, user_id)
        if profile is None:
            raise _not_found(user_id)
        return profile

    async def update_profile(
        self, principal: Principal, user_id: UUID, body: UpdateProfileRequest
    ) -> UserProfile:
        """Change the fields given; announce UserProfileUpdated when anything changed."""
        principal.require_owner(user_id, "this profile")
        if body.full_name is None and body.province is None:
            raise ProblemError(
                422, "Unprocessable Content", "Give full_name, province, or both to change."
            )
        async with self._ctx.transaction() as tx:
            user = await self._locked(tx, user_id)
            current = user.profile
            full_name = body.full_name or current.full_name
            moved = body.province is not None and body.province != current.province
            if full_name != current.full_name or moved:
                publisher, sink = self._users.publisher(tx, user_id, user.version)
                await publisher.user_profile_updated(
                    UserProfileUpdated(
                        user_id=user_id,
                        full_name=full_name,
                        province=body.province if moved else None,
                        updated_at=self._ctx.clock(),
                    ),
                    aggregate_id=str(user_id),
                )
                await self._views.project(tx, await sink.flush())
            profile = await self._views.get(tx, user_id)
        assert profile is not None
        return profile

    async def get_preferences(self, principal: Principal, user_id: UUID) -> UserPreferences:
        """The user's preferences, or the defaults when they never set any."""
        principal.require_owner(user_id, "this profile")
        async with self._ctx.transaction() as tx:
            if await self._views.get(tx, user_id) is None:
                raise _not_found(user_id)
            stored = await self._views.preferences(tx, user_id)
        return stored or DEFAULT_PREFERENCES

    async def replace_preferences(
        self, principal: Principal, user_id: UUID, body: UserPreferences
    ) -> UserPreferences:
        """Store the preferences in place of the previous ones."""
        principal.require_owner(user_id, "this profile")
        if len(set(body.favourite_categories)) != len(body.favourite_categories):
            raise ProblemError(
                422, "Unprocessable Content", "favourite_categories: each category only once."
            )
        async with self._ctx.transaction() as tx:
            await self._locked(tx, user_id)
            await self._views.replace_preferences(tx, user_id, body, self._ctx.clock())
        return body

    async def track_behavior(
        self, principal: Principal, user_id: UUID, body: TrackBehaviorRequest
    ) -> UserBehaviorTracked:
        """Record UserBehaviorTracked; a change of segment follows in the same transaction."""
        principal.require_owner(user_id, "this profile")
        _check_behavior(body)
        now = self._ctx.clock()
        async with self._ctx.transaction() as tx:
            user = await self._locked(tx, user_id)
            publisher, sink = self._users.publisher(tx, user_id, user.version)
            event = UserBehaviorTracked(
                user_id=user_id, **body.model_dump(exclude_none=True), tracked_at=now
            )
            await publisher.user_behavior_tracked(event, aggregate_id=str(user_id))
            await self._views.project(tx, await sink.flush())
            await self._users.resegment(tx, user_id, now=now, cause=None)
        return event

    async def _locked(self, tx: Transaction, user_id: UUID) -> LockedUser:
        user = await self._views.lock(tx, user_id)
        if user is None:
            raise _not_found(user_id)
        return user


def _check_behavior(body: TrackBehaviorRequest) -> None:
    """Product actions carry product_id and searches carry query, as the contract says."""
    if body.action in PRODUCT_ACTIONS and body.product_id is None:
        raise ProblemError(422, "Unprocessable Content", f"product_id: required for {body.action}.")
    if body.action == "searched" and body.query is None:
        raise ProblemError(422, "Unprocessable Content", "query: required for searched.")


def _not_found(user_id: UUID) -> ProblemError:
    return ProblemError(404, "Not Found", f"No user {user_id}.")
