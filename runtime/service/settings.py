"""A service's settings, from the environment; a missing or bad value fails at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime.errors import ConfigurationError

__all__ = [
    "DATABASE_URL_ENV",
    "LISTEN_PORT_ENV",
    "STREAMS_PROVISIONED_ENV",
    "Settings",
    "database_url_env",
    "own_database_url",
    "service_database_url",
]

DATABASE_URL_ENV = "A4CO_DATABASE_URL"
"""The PostgreSQL every service's schema lives on unless its own variable names another."""

LISTEN_PORT_ENV = "A4CO_LISTEN_PORT"
"""This process's own port; the launcher sets it so replicas of a service can coexist."""

STREAMS_PROVISIONED_ENV = "A4CO_STREAMS_PROVISIONED"
"""Set by the launcher, which created the streams: the service (not allowed to) does not."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Where a service finds its servers and where it listens."""

    service: str
    nats_url: str
    database_url: str
    redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 0
    jwks_url: str | None = None
    """Where the auth service publishes its signing keys; tokens are verified against it."""
    streams_provisioned: bool = False
    """The platform created the streams; the service's bus identity may not."""

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> Settings:
        """Read `A4CO_NATS_URL`, `A4CO_DATABASE_URL`, `A4CO_REDIS_URL` and the HTTP port.

        The port is `A4CO_LISTEN_PORT`, else `A4CO_<SERVICE>_PORT`, else `A4CO_HTTP_PORT`,
        else 0 (any free port).
        """
        source = os.environ if env is None else env
        database_url = service_database_url(service, source) or ""
        missing = [
            name
            for name, value in (
                ("A4CO_NATS_URL", source.get("A4CO_NATS_URL")),
                (f"{database_url_env(service)} or {DATABASE_URL_ENV}", database_url),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"the {service} service needs {' and '.join(missing)}; `make run` sets them"
            )
        port_var = f"A4CO_{service.upper()}_PORT"
        raw_port = (
            source.get(LISTEN_PORT_ENV)
            or source.get(port_var)
            or source.get("A4CO_HTTP_PORT")
            or "0"
        )
        if not raw_port.isdigit() or int(raw_port) > 65535:
            raise ConfigurationError(f"{port_var}={raw_port!r} is not a TCP port")
        return cls(
            service=service,
            nats_url=source["A4CO_NATS_URL"],
            database_url=database_url,
            redis_url=source.get("A4CO_REDIS_URL") or None,
            http_host=source.get("A4CO_HTTP_HOST", "127.0.0.1"),
            http_port=int(raw_port),
            jwks_url=_jwks_url(source),
            streams_provisioned=source.get(STREAMS_PROVISIONED_ENV) == "1",
        )


def database_url_env(service: str) -> str:
    """`A4CO_ORDER_DATABASE_URL` for `order`; `A4CO_SHIPPING_ZONES_...` for `shipping-zones`."""
    return f"A4CO_{service.upper().replace('-', '_')}_DATABASE_URL"


def service_database_url(service: str, env: Mapping[str, str] | None = None) -> str | None:
    """The service's own `A4CO_<SERVICE>_DATABASE_URL`, else the shared `A4CO_DATABASE_URL`.

    So one service's schema (with its event store, outbox, saga and inbox) can live on a
    PostgreSQL server of its own. None when neither is set; a malformed one fails naming
    its variable.
    """
    source = os.environ if env is None else env
    shared = source.get(DATABASE_URL_ENV, "").strip()
    own = own_database_url(service, source)
    return own or (_checked_postgres_url(DATABASE_URL_ENV, shared) if shared else None)


def own_database_url(service: str, env: Mapping[str, str] | None = None) -> str | None:
    """The service's `A4CO_<SERVICE>_DATABASE_URL` alone (checked), None when unset or blank."""
    var = database_url_env(service)
    value = (os.environ if env is None else env).get(var, "").strip()
    return _checked_postgres_url(var, value) if value else None


def _checked_postgres_url(var: str, value: str) -> str:
    """`value` if it is a postgresql:// URL with a host or socket; else a ConfigurationError."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigurationError(f"{var} is not a URL ({exc}); expected postgresql://…") from exc
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"{var} should be a postgresql:// URL, not one starting {parts.scheme or value[:12]!r}"
        )
    if not (parts.hostname or "host=" in parts.query):
        raise ConfigurationError(f"{var} names no server (postgresql://user@host:port/database)")
    return value


def _jwks_url(source: Mapping[str, str]) -> str | None:
    """`A4CO_JWKS_URL`, else the JWKS path of `A4CO_AUTH_URL` (set by the launcher)."""
    if source.get("A4CO_JWKS_URL"):
        return source["A4CO_JWKS_URL"]
    auth = source.get("A4CO_AUTH_URL")
    return f"{auth.rstrip('/')}/.well-known/jwks.json" if auth else None
