"""The gateway's settings: upstream URLs, rate limits, CORS origins, trusted proxies and body
limits, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import limits

from runtime.errors import ConfigurationError
from runtime.http.body_limit import DEFAULT_MAX_BODY_BYTES
from services.gateway.clients import TrustedProxies

__all__ = ["BODY_LIMITS", "LOCAL_ORIGINS", "SERVICES", "GatewayConfig"]

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

BODY_LIMITS: Mapping[str, int] = {"auth": 16 << 10}
"""Body limits (bytes) smaller than the default, by `<service>[/<path prefix>]`: auth's
bodies are a few credentials or a token, so a password guess cannot bring megabytes."""


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
    """Prefix of the rate limits' Redis keys (revoked sessions have the runtime's own)."""
    trusted_proxies: tuple[str, ...] = ()
    """IPs or CIDRs of the proxies in front of the gateway whose `X-Forwarded-For` and
    `Forwarded` headers are believed; by default nobody's (the peer is the client)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """A request body's limit where `body_limits` sets none; a longer body is a 413."""
    body_limits: Mapping[str, int] = field(default_factory=lambda: dict(BODY_LIMITS))
    """Limits by `<service>` or `<service>/<path prefix>`; the longest prefix applies."""

    def body_limit(self, service: str, path: str) -> int:
        """The body limit of a request to `path` (decoded, no leading slash) of `service`."""
        route = f"{service}/{path}"
        matches = [key for key in self.body_limits if route == key or route.startswith(key + "/")]
        return self.body_limits[max(matches, key=len)] if matches else self.max_body_bytes

    def __post_init__(self) -> None:
        TrustedProxies(self.trusted_proxies)  # a bad address fails here, at start-up
        for route, size in (("max_body_bytes", self.max_body_bytes), *self.body_limits.items()):
            if size < 0:
                raise ConfigurationError(f"the gateway's body limit {route}={size} is negative")
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
        proxies = source.get("A4CO_GATEWAY_TRUSTED_PROXIES", "")
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
            trusted_proxies=tuple(p.strip() for p in proxies.split(",") if p.strip()),
            max_body_bytes=_bytes(source, "A4CO_GATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            body_limits={**BODY_LIMITS, **_body_limits(source.get("A4CO_GATEWAY_BODY_LIMITS", ""))},
        )


def _bytes(source: Mapping[str, str], name: str, default: int) -> int:
    raw = source.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigurationError(f"{name}={raw!r} is not a number of bytes")
    return int(raw)


def _body_limits(raw: str) -> dict[str, int]:
    """`auth=16384,cms/pages=2097152` -> {"auth": 16384, "cms/pages": 2097152}."""
    limits: dict[str, int] = {}
    for item in (i.strip() for i in raw.split(",") if i.strip()):
        route, _, size = item.partition("=")
        if not route.strip() or not size.strip().isdigit():
            raise ConfigurationError(
                f"A4CO_GATEWAY_BODY_LIMITS: {item!r} is not <service>[/<path>]=<bytes>"
            )
        limits[route.strip().strip("/")] = int(size)
    return limits
