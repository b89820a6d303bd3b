"""The auth service's pure rules: token lifetimes, refresh-token format, the bootstrap admin."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from uuid import UUID

from runtime.errors import ConfigurationError

__all__ = [
    "ACCESS_LIFETIME",
    "ADMIN_NAMESPACE",
    "BOOTSTRAP_ADMIN_ENV",
    "REFRESH_LIFETIME",
    "BootstrapAdmin",
    "digest",
    "new_refresh_token",
    "session_of_refresh",
]

ACCESS_LIFETIME = 15 * 60
"""Seconds an access token lives (the `exp` claim)."""
REFRESH_LIFETIME = 30 * 24 * 3600
"""Seconds a session (and so its refresh tokens) lives from login."""
BOOTSTRAP_ADMIN_ENV = "A4CO_BOOTSTRAP_ADMIN"
ADMIN_NAMESPACE = UUID("9d7e4b2a-3c1f-5e6d-8a9b-a4c0a4c0ad01")
"""uuid5 namespace of bootstrap admins' user ids: the same e-mail gives the same id."""

_REFRESH = re.compile(r"rt\.([0-9a-f]{32})\.[A-Za-z0-9_-]{43}")
_EMAIL = re.compile(r"[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+")


def new_refresh_token(session_id: UUID) -> str:
    """An opaque refresh token of `session_id`: `rt.<sid hex>.<256 random bits>`."""
    return f"rt.{session_id.hex}.{secrets.token_urlsafe(32)}"


def session_of_refresh(token: str) -> UUID | None:
    """The session a refresh token names, or None when it is not a refresh token."""
    match = _REFRESH.fullmatch(token)
    return UUID(match.group(1)) if match else None


def digest(token: str) -> str:
    """What is stored of a refresh token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class BootstrapAdmin:
    """The administrator created at start-up, from `A4CO_BOOTSTRAP_ADMIN=email:password`."""

    email: str
    password: str = field(repr=False)

    @property
    def user_id(self) -> UUID:
        """Deterministic: uuid5 of the lower-cased e-mail."""
        return uuid.uuid5(ADMIN_NAMESPACE, self.email.lower())

    @classmethod
    def parse(cls, raw: str) -> BootstrapAdmin:
        """Parse `email:password`; a bad value fails with a sentence that hides the password."""
        email, sep, password = raw.partition(":")
        if not sep or not _EMAIL.fullmatch(email):
            raise ConfigurationError(
                f"{BOOTSTRAP_ADMIN_ENV} should be email:password; its e-mail {email!r} is not one"
            )
        if not 8 <= len(password) <= 200:
            raise ConfigurationError(
                f"{BOOTSTRAP_ADMIN_ENV}: the password of {email} should have 8 to 200 characters"
            )
        return cls(email, password)
