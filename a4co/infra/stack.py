"""Start the platform's servers: the ones named by A4CO_*_URL as they are, the others embedded.

Embedded servers keep their data under `<data_dir>/<name>` (default `.a4co/data/<name>`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from a4co.infra.base import (
    DATABASE_URL_ENV,
    NATS_URL_ENV,
    REDIS_URL_ENV,
    ExternalServer,
    ServerHandle,
    configured_url,
)
from a4co.infra.nats import EmbeddedNats
from a4co.infra.nats_cluster import EmbeddedNatsCluster
from a4co.infra.postgres import EmbeddedPostgres
from a4co.infra.redis import EmbeddedRedis
from runtime.errors import InfraError, PlatformError

__all__ = [
    "DEFAULT_DATA_DIR",
    "Infra",
    "InfraStack",
    "start_infra",
    "start_nats",
    "start_postgres",
    "start_redis",
]

DEFAULT_DATA_DIR = Path(".a4co") / "data"

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Infra:
    """Where the platform's servers are; None for a server that was not asked for."""

    nats_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None


@dataclass(slots=True)
class InfraStack:
    """The servers in use; `stop()` stops the embedded ones and leaves external ones alone."""

    nats: ServerHandle | None = None
    postgres: ServerHandle | None = None
    redis: ServerHandle | None = None

    @property
    def urls(self) -> Infra:
        """The URLs of the servers in the stack."""
        return Infra(
            nats_url=self.nats.url if self.nats else None,
            database_url=self.postgres.url if self.postgres else None,
            redis_url=self.redis.url if self.redis else None,
        )

    def stop(self) -> None:
        """Stop every server, the last started first, even when one of them fails to stop."""
        failures: list[InfraError] = []
        for server in (self.redis, self.postgres, self.nats):
            if server is None:
                continue
            try:
                server.stop()
            except InfraError as exc:
                failures.append(exc)
        if failures:
            raise InfraError("; ".join(str(failure) for failure in failures)) from failures[0]

    def __enter__(self) -> InfraStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_nats(
    data_dir: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    authorization: str | None = None,
    secrets: Mapping[str, str] | None = None,
    cluster: int = 1,
) -> ServerHandle:
    """Use the NATS at A4CO_NATS_URL, or start an embedded one with JetStream.

    An embedded server takes `authorization` (a server block whose `$VARIABLES` `secrets`
    fill) and then refuses anonymous clients; an external one is configured by its operator.
    `cluster` > 1 starts that many servers clustered with routes (`EmbeddedNatsCluster`).
    """
    embedded: Callable[[Path], ServerHandle] = (
        partial(EmbeddedNats, authorization=authorization, secrets=secrets)
        if cluster == 1
        else partial(
            EmbeddedNatsCluster, size=cluster, authorization=authorization, secrets_env=secrets
        )
    )
    return _start("nats", NATS_URL_ENV, NATS_SCHEMES, embedded, data_dir, env)


def start_postgres(
    data_dir: Path | None = None, *, env: Mapping[str, str] | None = None
) -> ServerHandle:
    """Use the PostgreSQL at A4CO_DATABASE_URL, or start an embedded one."""
    return _start("postgres", DATABASE_URL_ENV, POSTGRES_SCHEMES, EmbeddedPostgres, data_dir, env)


def start_redis(
    data_dir: Path | None = None, *, env: Mapping[str, str] | None = None
) -> ServerHandle:
    """Use the Redis at A4CO_REDIS_URL, or start an embedded one."""
    return _start("redis", REDIS_URL_ENV, REDIS_SCHEMES, EmbeddedRedis, data_dir, env)


def start_infra(
    data_dir: Path | None = None,
    *,
    nats: bool = True,
    postgres: bool = True,
    redis: bool = True,
    env: Mapping[str, str] | None = None,
    nats_authorization: str | None = None,
    nats_secrets: Mapping[str, str] | None = None,
    nats_cluster: int = 1,
) -> InfraStack:
    """Start the servers asked for; if one fails, stop those already started and raise."""
    stack = InfraStack()
    try:
        if nats:
            stack.nats = start_nats(
                data_dir,
                env=env,
                authorization=nats_authorization,
                secrets=nats_secrets,
                cluster=nats_cluster,
            )
        if postgres:
            stack.postgres = start_postgres(data_dir, env=env)
        if redis:
            stack.redis = start_redis(data_dir, env=env)
    except PlatformError:
        stack.stop()
        raise
    return stack


def _start(
    name: str,
    env_var: str,
    schemes: tuple[str, ...],
    embedded: Callable[[Path], ServerHandle],
    data_dir: Path | None,
    env: Mapping[str, str] | None,
) -> ServerHandle:
    url = configured_url(env_var, schemes, env)
    if url is not None:
        return ExternalServer(name=name, url=url, env_var=env_var)
    server = embedded((DEFAULT_DATA_DIR if data_dir is None else data_dir) / name)
    server.start()
    return server
