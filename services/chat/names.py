"""Display names from the user service, asked synchronously on the caller's behalf.

The generated `UserClient` retries and has a circuit breaker; when the user service is
unavailable (or will not show a profile to this caller, as it shows profiles only to their
owner and admins) the answer is "unknown", and the caller falls back to the names kept in
the chat's own table. Only a 404 is definite: the user does not exist.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from generated.user.client import UserClient
from runtime.http import ProblemError
from runtime.http.auth import Principal
from runtime.http.client import DependencyUnavailableError

__all__ = ["Name", "UnknownUserError", "UserDirectory"]

log = logging.getLogger(__name__)


class UnknownUserError(LookupError):
    """The user service says the user does not exist."""

    def __init__(self, user_id: UUID) -> None:
        super().__init__(f"No user {user_id}.")
        self.user_id = user_id


@dataclass(frozen=True, slots=True)
class Name:
    """A user's name as of `changed_at`."""

    user_id: UUID
    display_name: str
    changed_at: datetime


class UserDirectory:
    """Asks the user service for profiles, with the caller's token."""

    def __init__(self, users: UserClient) -> None:
        self._users = users

    async def names(self, principal: Principal, user_ids: tuple[UUID, ...]) -> list[Name]:
        """The names the user service gives now (concurrently); raise on a missing user."""
        client = self._users.with_token(principal.token)
        found = await asyncio.gather(*(self._name(client, u) for u in user_ids))
        return [name for name in found if name is not None]

    async def _name(self, client: UserClient, user_id: UUID) -> Name | None:
        try:
            profile = await client.get_profile(user_id)
        except DependencyUnavailableError as exc:
            log.info("user service unavailable, using kept names: %s", exc)
            return None
        except ProblemError as exc:
            if exc.status == 404:
                raise UnknownUserError(user_id) from exc
            return None  # not shown to this caller (403): the kept name will do
        return Name(profile.user_id, profile.full_name, profile.updated_at)
