"""The state file `a4co up` writes (`<data_dir>/urls.json`): where the running platform is.

`demo`, `status` and `dlq` read it to find the gateway, NATS and PostgreSQL. The state of a
running platform wins over `A4CO_NATS_URL`/`A4CO_DATABASE_URL`: it names the servers that
platform really uses (the same ones when `a4co up` was given those variables); the
variables serve when no platform of this data folder runs.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from a4co.infra import DATABASE_URL_ENV, DEFAULT_DATA_DIR, NATS_URL_ENV
from runtime.errors import ConfigurationError

__all__ = ["STATE_FILE", "PlatformState", "find_state", "remove_state", "server_urls", "state_path"]

STATE_FILE = "urls.json"
NOT_RUNNING = "no A4CO platform is running here ({reason}): run `a4co up` (or `make run`) first"


@dataclass(frozen=True, slots=True)
class PlatformState:
    """What a running `a4co up` tells other commands: its pid, the URLs and the admin login."""

    pid: int
    data_dir: str
    services: dict[str, str]
    nats_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    static: dict[str, str] = field(default_factory=dict)
    """`catalog` and `storefront` URLs of the static server."""
    admin_email: str = ""
    admin_password: str = ""
    prometheus: str | None = None
    """Prometheus' URL, None when it is not installed."""
    exporters: dict[str, str] = field(default_factory=dict)
    """`nats`, `postgres`: the exporters Prometheus scrapes beside the services."""
    notes: list[str] = field(default_factory=list)
    """What `a4co up` could not start, each with why and how to mend it."""

    @property
    def gateway(self) -> str | None:
        """The gateway's base URL, if the gateway runs."""
        return self.services.get("gateway")

    def write(self) -> Path:
        """Write the state file (mode 0600: it holds the admin password and server URLs)."""
        path = state_path(Path(self.data_dir))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2, sort_keys=True)
        temporary.replace(path)
        return path


def state_path(data_dir: Path | None = None) -> Path:
    """`<data_dir>/urls.json` (default `.a4co/data/urls.json`)."""
    return (DEFAULT_DATA_DIR if data_dir is None else data_dir) / STATE_FILE


def find_state(data_dir: Path | None = None) -> PlatformState:
    """The state of the platform running from `data_dir`; ConfigurationError if none runs."""
    path = state_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state = PlatformState(**raw)
    except FileNotFoundError as exc:
        raise ConfigurationError(NOT_RUNNING.format(reason=f"no {path}")) from exc
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(NOT_RUNNING.format(reason=f"{path} is unreadable")) from exc
    if not _alive(state.pid):
        raise ConfigurationError(
            NOT_RUNNING.format(reason=f"{path} names pid {state.pid}, which has ended")
        )
    return state


def remove_state(data_dir: Path, pid: int) -> None:
    """Remove the state file if it is still this process's."""
    path = state_path(data_dir)
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            path.unlink()


def server_urls(data_dir: Path | None) -> tuple[str | None, str | None]:
    """(NATS URL, database URL): the running platform's, else `A4CO_NATS_URL`/`..._DATABASE_URL`."""
    nats_url = os.environ.get(NATS_URL_ENV) or None
    database_url = os.environ.get(DATABASE_URL_ENV) or None
    try:
        state = find_state(data_dir)
    except ConfigurationError:
        if nats_url is None and database_url is None:
            raise
    else:
        nats_url = state.nats_url or nats_url
        database_url = state.database_url or database_url
    return nats_url, database_url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
