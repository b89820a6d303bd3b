"""The steps between versions of auth's messages that only auth can write (hooks named in
`generated.versions.AuthVersions`): what a v2 event says to readers still on v1."""

from __future__ import annotations

from typing import Any

__all__ = ["session_revoked_v2_to_v1"]


def session_revoked_v2_to_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """SessionRevoked v1 has no `refresh_token_reused`: a v1 reader sees what auth said
    before v2 existed, an `admin` revocation; the session is refused the same either way."""
    if payload["reason"] == "refresh_token_reused":
        return {**payload, "reason": "admin"}
    return dict(payload)
