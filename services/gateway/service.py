"""The gateway's composition root: the edge proxy mounted at `/api`, behind CORS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio
from fastapi import APIRouter
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from generated.gateway.events import SUBSCRIPTIONS
from runtime.errors import ConfigurationError
from runtime.service import ServiceContext, ServiceDefinition
from services.gateway.config import LOCAL_ORIGINS, GatewayConfig
from services.gateway.denylist import DenyList
from services.gateway.handlers import GatewayHandlers
from services.gateway.proxy import CORRELATION, EdgeProxy
from services.gateway.ratelimit import RateLimiter

__all__ = ["NAME", "definition"]

NAME = "gateway"


@dataclass(frozen=True, slots=True)
class _Edge:
    deny_list: DenyList
    proxy: EdgeProxy


def definition(config: GatewayConfig | None = None) -> ServiceDefinition:
    """The gateway; `config` defaults to `GatewayConfig.from_env()`."""
    settings = config or GatewayConfig.from_env()

    def routers(ctx: ServiceContext) -> Sequence[APIRouter]:
        router = APIRouter()
        router.mount("/api", _cors(_edge(ctx, settings).proxy, settings))
        return [router]

    return ServiceDefinition(
        name=NAME,
        subscriptions=SUBSCRIPTIONS,
        handlers=lambda ctx: GatewayHandlers(_edge(ctx, settings).deny_list),
        routers=routers,
    )


def _edge(ctx: ServiceContext, config: GatewayConfig) -> _Edge:
    """The context's deny list and proxy, made on first use (they share Redis)."""
    edge = ctx.extras.get("gateway.edge")
    if edge is None:
        url = ctx.settings.redis_url
        if not url:
            raise ConfigurationError(
                "the gateway keeps rate limits and revoked sessions in Redis and needs "
                "A4CO_REDIS_URL; `make run` sets it"
            )
        deny_list = DenyList(redis.asyncio.from_url(url), lifetime=config.access_lifetime)
        limiter = RateLimiter(url, namespace=config.namespace)
        edge = _Edge(deny_list, EdgeProxy(config, deny_list=deny_list, limiter=limiter))
        ctx.extras["gateway.edge"] = edge
        ctx.on_stop(edge.proxy.aclose)
        ctx.on_stop(deny_list.close)
    assert isinstance(edge, _Edge)
    return edge


def _cors(app: ASGIApp, config: GatewayConfig) -> CORSMiddleware:
    return CORSMiddleware(
        app,
        allow_origins=list(config.cors_origins),
        allow_origin_regex=None if config.cors_origins else LOCAL_ORIGINS,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=True,
        expose_headers=[CORRELATION, "Retry-After", "WWW-Authenticate"],
        max_age=600,
    )
