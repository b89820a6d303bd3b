"""The gateway's settings: upstream URLs, rate limits and CORS origins, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import limits

from runtime.errors import ConfigurationError

__all__ = ["LOCAL_ORIGINS", "SERVICES", "GatewayConfig"]

SERVICES = (
    "admin",
    "analytics",
    "artisan",
    "auth",
    "calendar",
    "chat",
    "cms",
    "geo",
    "inventory",
    "loyalty",
    "notification",
    "order",
    "payment",
    "product",
    "recommendation",
    "shipping",
    "user",
)
"""The services behind the gateway: `/api/<service>/...` goes to `A4CO_<SERVICE>_URL`."""

LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
"""Browser origins allowed by default: any port on this machine."""


@dataclass(frozen=True)
class GatewayConfig:
    """Where each service is, how much each client may ask, and which origins may call."""

    upstreams: Mapping[str, str] = field(default_factory=dict)
    rate_limit: str = "100/second"
    """Per client (token subject, else IP), on every route but the token endpoint."""
    token_rate_limit: str = "20/minute"
    """Per client on `/api/auth/token`: password guessing is slow on purpose."""
    cors_origins: tuple[str, ...] = ()
    """Allowed browser origins; empty allows `LOCAL_ORIGINS`."""
    upstream_timeout: float = 30.0
    """Seconds to wait for an upstream's answer (event streams wait without limit)."""
    access_lifetime: int = 900
    """Seconds an access token lives: how long a revoked session stays denied."""
    namespace: str = "a4co:gateway"
    """Prefix of the gateway's Redis keys."""

    def __post_init__(self) -> None:
        for name, value in (
            ("rate_limit", self.rate_limit),
            ("token_rate_limit", self.token_rate_limit),
        ):
            try:
                limits.parse(value)
            except ValueError as exc:
                raise ConfigurationError(
                    f"the gateway's {name} {value!r} is not a limit such as '100/second'"
                ) from exc

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """Read `A4CO_<SERVICE>_URL` for each service and the `A4CO_GATEWAY_*` settings."""
        source = os.environ if env is None else env
        upstreams = {
            name: source[f"A4CO_{name.upper()}_URL"].rstrip("/")
            for name in SERVICES
            if source.get(f"A4CO_{name.upper()}_URL")
        }
        origins = source.get("A4CO_GATEWAY_CORS_ORIGINS", "")
        timeout = source.get("A4CO_GATEWAY_UPSTREAM_TIMEOUT", "30")
        try:
            upstream_timeout = float(timeout)
        except ValueError as exc:
            raise ConfigurationError(
                f"A4CO_GATEWAY_UPSTREAM_TIMEOUT={timeout!r} is not a number of seconds"
            ) from exc
        return cls(
            upstreams=upstreams,
            rate_limit=source.get("A4CO_GATEWAY_RATE_LIMIT", cls.rate_limit),
            token_rate_limit=source.get("A4CO_GATEWAY_TOKEN_RATE_LIMIT", cls.token_rate_limit),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            upstream_timeout=upstream_timeout,
        )
