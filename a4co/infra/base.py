"""What every infrastructure server looks like: a handle with a URL, embedded or external.

Also the settings that choose between the two (`A4CO_NATS_URL`, `A4CO_DATABASE_URL`,
`A4CO_REDIS_URL`) and the small waiting and logging aids the embedded backends share.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from runtime.errors import ConfigurationError, InfraError

__all__ = [
    "DATABASE_URL_ENV",
    "NATS_URL_ENV",
    "REDIS_URL_ENV",
    "ExternalServer",
    "ServerHandle",
    "configured_url",
    "log_tail",
    "redact",
    "terminate",
    "wait_for",
]

NATS_URL_ENV = "A4CO_NATS_URL"
DATABASE_URL_ENV = "A4CO_DATABASE_URL"
REDIS_URL_ENV = "A4CO_REDIS_URL"


class ServerHandle(Protocol):
    """A server the platform talks to: where it is, and whether this process manages it."""

    @property
    def name(self) -> str:
        """Short name: `nats`, `postgres` or `redis`."""
        ...

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        ...

    @property
    def external(self) -> bool:
        """True when the server was configured by URL and is not managed here."""
        ...

    @property
    def pid(self) -> int | None:
        """The server's process id while this process runs it, else None."""
        ...

    def start(self) -> None:
        """Start the server if it is not running; return once it answers."""

    def stop(self) -> None:
        """Stop the server, keeping its data."""

    def restart(self) -> None:
        """Stop and start again on the same data and the same address."""


@dataclass(frozen=True, slots=True)
class ExternalServer:
    """A server configured by URL: used unchanged, never started or stopped from here."""

    name: str
    url: str
    env_var: str

    @property
    def external(self) -> bool:
        """Always True."""
        return True

    @property
    def pid(self) -> int | None:
        """Always None: no process of ours runs it."""
        return None

    def start(self) -> None:
        """Do nothing: an external server is someone else's to run."""

    def stop(self) -> None:
        """Do nothing: an external server is someone else's to stop."""

    def restart(self) -> None:
        """Refuse: an external server cannot be restarted from here."""
        raise InfraError(
            f"the {self.name} server at {redact(self.url)} is external (set by {self.env_var}); "
            "only embedded servers can be restarted"
        )


def configured_url(
    env_var: str, schemes: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str | None:
    """Return the URL in `env_var`, None when unset or blank; reject a URL of another scheme."""
    value = (os.environ if env is None else env).get(env_var, "").strip()
    if not value:
        return None
    expected = ", ".join(f"{scheme}://" for scheme in schemes)
    try:
        scheme = urlsplit(value.split(",", 1)[0]).scheme
    except ValueError as exc:
        raise ConfigurationError(f"{env_var} is not a URL ({exc}); expected {expected}") from exc
    if scheme not in schemes:
        raise ConfigurationError(f"{env_var}={redact(value)!r} should start with one of {expected}")
    return value


def redact(url: str) -> str:
    """Hide the password of a URL (or of each in a comma-separated list) for messages and logs."""
    if "," in url:
        return ",".join(redact(part) for part in url.split(","))
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.01) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; tell whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    """SIGTERM a child process and reap it, SIGKILL past `timeout`; False if it had to be
    killed. A process that is gone already (or None) counts as stopped."""
    if process is None or process.poll() is not None:
        return True
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True


def log_tail(path: Path, lines: int = 25) -> str:
    """Return the last lines of a server's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in tail) if tail else f"(log {path} is empty)"
