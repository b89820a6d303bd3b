"""The bus identities of a platform: their passwords, their URLs, the streams they need.

An embedded nats-server gets the generated `authorization` block (one user per service
and the operator `a4co`, see `runtime.bus.permissions`) and refuses anonymous clients.
The passwords are made at the first start and kept in `<data_dir>/nats-credentials.json`
(mode 0600); each service process gets a NATS URL with its own user and password, the
operator's URL is the one the launcher, the CLI and the tests use. An external server
(`A4CO_NATS_URL`) is configured by its operator with `generated/nats/authorization.conf`;
the passwords then come from `A4CO_NATS_PASSWORD_<IDENTITY>` in the environment, and an
identity without one connects as the URL says.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError

from a4co.launcher.passwords import new_password, read_passwords, write_passwords
from runtime.bus.base import StreamSpec
from runtime.bus.nats_connect import connect, server_urls
from runtime.bus.nats_publisher import ensure_streams
from runtime.bus.permissions import (
    OPERATOR,
    BusPermissions,
    password_variable,
    render_authorization,
    service_permissions,
)
from runtime.errors import ConfigurationError, InfraError

__all__ = [
    "CREDENTIALS_FILE",
    "PROVISION_TIMEOUT",
    "STREAM_REPLICAS_ENV",
    "BusAuth",
    "ensure_streams_in_time",
    "provision_streams",
    "stream_replicas",
]

CREDENTIALS_FILE = "nats-credentials.json"
STREAM_REPLICAS_ENV = "A4CO_STREAM_REPLICAS"
"""How many copies of each stream the operator makes: 1 on one server, 3 on a cluster."""
PROVISION_TIMEOUT = 90.0
"""Seconds JetStream may take to answer for every stream: a cluster elects leaders first."""
_ATTEMPT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class BusAuth:
    """The platform's bus identities: permissions by identity and the known passwords."""

    permissions: Mapping[str, BusPermissions]
    passwords: Mapping[str, str]

    @classmethod
    def embedded(cls, data_dir: Path, services: list[str], generated: str = "generated") -> BusAuth:
        """Identities for an embedded server: passwords from the data folder, made if new."""
        permissions = _permissions(generated, services)
        path = data_dir / CREDENTIALS_FILE
        known = read_passwords(path, "identities")
        passwords = {name: known.get(name) or new_password() for name in permissions}
        if passwords != known:
            write_passwords(path, passwords)
        return cls(permissions, passwords)

    @classmethod
    def external(
        cls, env: Mapping[str, str], services: list[str], generated: str = "generated"
    ) -> BusAuth:
        """Identities for an external server: the passwords the environment gives."""
        permissions = _permissions(generated, services)
        passwords = {
            name: env[password_variable(name)]
            for name in permissions
            if env.get(password_variable(name))
        }
        return cls(permissions, passwords)

    @property
    def authorization(self) -> str:
        """The server's `authorization` block for these identities."""
        return render_authorization(self.permissions.values())

    @property
    def secrets(self) -> dict[str, str]:
        """The server's environment: `A4CO_NATS_PASSWORD_<IDENTITY>` for every identity.

        nats-server parses a variable's value as a configuration value (`12ab` would be a
        number), so each is given as a quoted string.
        """
        return {password_variable(name): json.dumps(pw) for name, pw in self.passwords.items()}

    def url(self, base_url: str, identity: str) -> str:
        """`base_url` with the identity's user and password, or as it is without a password.

        A comma-separated list of servers (a cluster) gets them on every URL.
        """
        password = self.passwords.get(identity)
        if password is None:
            return base_url
        credentials = f"{quote(identity, safe='')}:{quote(password, safe='')}"
        urls = []
        for url in server_urls(base_url):
            parts = urlsplit(url)
            host = parts.netloc.rsplit("@", 1)[-1]
            urls.append(urlunsplit(parts._replace(netloc=f"{credentials}@{host}")))
        return ",".join(urls)


def stream_replicas(env: Mapping[str, str], default: int = 1) -> int:
    """`A4CO_STREAM_REPLICAS` (1, 3 or 5), else `default`: how many copies of each stream."""
    raw = env.get(STREAM_REPLICAS_ENV, "").strip() or str(default)
    if raw not in ("1", "3", "5"):
        raise ConfigurationError(f"{STREAM_REPLICAS_ENV}={raw!r} should be 1, 3 or 5")
    return int(raw)


def provision_streams(url: str, generated: str = "generated", *, replicas: int = 1) -> None:
    """Create or update the platform's streams as the operator, before any service starts.

    Each stream gets `replicas` copies, whatever `contracts/platform.yaml` says: the number
    belongs to the deployment (1 on one server, 3 on a cluster), not to the contract.
    """
    specs = importlib.import_module(f"{generated}.platform").STREAMS
    streams = tuple(replace(spec, replicas=replicas) for spec in specs)
    with ThreadPoolExecutor(max_workers=1) as pool:  # works whether or not a loop runs here
        pool.submit(asyncio.run, _provision(url, streams)).result()


async def _provision(url: str, streams: tuple[StreamSpec, ...]) -> None:
    try:
        nc = await connect(
            url, connect_timeout=5, max_reconnect_attempts=3, reconnect_time_wait=0.5, name="a4co"
        )
    except (OSError, NatsError, TimeoutError) as exc:
        raise InfraError(f"could not connect to NATS as the operator: {exc}") from exc
    try:
        await ensure_streams_in_time(nc, streams)
    finally:
        await nc.close()


async def ensure_streams_in_time(nc: Client, streams: tuple[StreamSpec, ...]) -> None:
    """`ensure_streams`, tried again until `PROVISION_TIMEOUT` seconds have passed.

    After a cluster starts, a stream answers only once its replicas have elected a leader,
    and a request sent before that is never answered: each attempt waits a few seconds, not
    the whole time. A refusal other than a timeout or a missing stream is raised at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROVISION_TIMEOUT
    js = nc.jetstream(timeout=_ATTEMPT_TIMEOUT)
    while True:
        try:
            await ensure_streams(js, streams)
            return
        except (NatsTimeoutError, ConfigurationError) as exc:
            cause = exc if isinstance(exc, NatsTimeoutError) else exc.__cause__
            if not isinstance(cause, NatsTimeoutError | NotFoundError):
                raise
            if loop.time() > deadline:
                raise InfraError(
                    f"JetStream did not provision the streams within {PROVISION_TIMEOUT:g} s: {exc}"
                ) from exc
        await asyncio.sleep(0.5)


def _permissions(generated: str, services: list[str]) -> dict[str, BusPermissions]:
    """The generated permissions of `services` and the operator's.

    A service the contracts do not know (a test's stand-in) gets the least of all: its
    inbox and its own dead letters.
    """
    table = importlib.import_module(f"{generated}.bus_permissions").BUS_PERMISSIONS
    by_name: dict[str, BusPermissions] = {grant.identity: grant for grant in table}
    chosen = {
        name: by_name.get(name) or service_permissions(name, sends=(), consumes=())
        for name in services
    }
    if OPERATOR not in by_name:
        raise ConfigurationError(f"{generated}.bus_permissions names no {OPERATOR!r} identity")
    chosen[OPERATOR] = by_name[OPERATOR]
    return chosen
