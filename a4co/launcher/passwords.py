"""The passwords the launcher makes at the first start and keeps in the data folder: one file
for the bus identities (`nats-credentials.json`), one for the database roles
(`postgres-roles.json`), each a JSON object readable by this user only."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from runtime.errors import ConfigurationError

__all__ = ["new_password", "read_passwords", "write_passwords"]


def new_password() -> str:
    """48 hex digits after a letter: safe in a URL and in nats-server's configuration."""
    return f"p{secrets.token_hex(24)}"


def read_passwords(path: Path, owners: str) -> dict[str, str]:
    """The passwords kept at `path` by name of their `owners` (empty when there is no file)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not JSON: remove it to make new passwords") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigurationError(f"{path} should map {owners} to passwords")
    return raw


def write_passwords(path: Path, passwords: Mapping[str, str]) -> None:
    """Replace the file at once, never readable by others, not even while being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(dict(passwords), file, indent=2, sort_keys=True)
    os.replace(temporary, path)
