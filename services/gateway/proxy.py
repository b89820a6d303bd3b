"""The edge proxy: `/api/<service>/<path>` to the service, after the token and the rate limit.

A bearer token is verified here with auth's keys (no call to auth) and refused when its
session was revoked; the caller (token subject, else client IP) is counted against a rate
limit; the request goes upstream on a shared connection pool and the answer streams back
as it comes, so an event stream flows through unbuffered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from limits import parse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, Router

from runtime.http import PROBLEM_JSON, Problem
from runtime.http.auth import AuthenticationError, Principal, TokenVerifier
from services.gateway.config import SERVICES, GatewayConfig
from services.gateway.denylist import DenyList
from services.gateway.ratelimit import RateLimiter

__all__ = ["EdgeProxy"]

logger = logging.getLogger(__name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORRELATION = "x-correlation-id"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length"}
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server"}


class EdgeProxy:
    """The ASGI app mounted at `/api`: routing, authentication, rate limits, proxying."""

    def __init__(self, config: GatewayConfig, *, deny_list: DenyList, limiter: RateLimiter) -> None:
        self._config = config
        self._deny_list = deny_list
        self._limiter = limiter
        self._limit = parse(config.rate_limit)
        self._token_limit = parse(config.token_rate_limit)
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            timeout=httpx.Timeout(config.upstream_timeout, connect=2.0),
            follow_redirects=False,
        )
        self.router = Router(
            routes=[
                Route("/{service}/{path:path}", self.handle, methods=METHODS),
                Route("/{service}", self.handle, methods=METHODS),
                Route("/{path:path}", self.unrouted, methods=METHODS),
            ]
        )

    async def aclose(self) -> None:
        """Close the upstream connection pool."""
        await self._http.aclose()

    async def unrouted(self, request: Request) -> Response:
        """A path that names no service."""
        return _problem(request, 404, "Not Found", "Paths are /api/<service>/<path>.")

    async def handle(self, request: Request) -> Response:
        """Check, count, then forward one request; stream the answer back."""
        service = request.path_params["service"]
        path = request.path_params.get("path", "")
        if service not in SERVICES:
            return _problem(request, 404, "Not Found", f"There is no service {service!r}.")
        principal: Principal | None = None
        if "authorization" in request.headers:
            principal_or_problem = await self._authenticate(request)
            if isinstance(principal_or_problem, Response):
                return principal_or_problem
            principal = principal_or_problem
        token_endpoint = service == "auth" and path == "token"
        client = str(principal.subject) if principal else _client_ip(request)
        wait = await self._limiter.retry_after(
            self._token_limit if token_endpoint else self._limit,
            "token" if token_endpoint else "api",
            client,
        )
        if wait is not None:
            problem = _problem(request, 429, "Too Many Requests", f"Retry in {wait} s.")
            problem.headers["Retry-After"] = str(wait)
            return problem
        base = self._config.upstreams.get(service)
        if base is None:
            return _problem(request, 503, "Service Unavailable", f"No URL for {service}.")
        return await self._forward(request, f"{base}/{path}", service)

    async def _authenticate(self, request: Request) -> Principal | Response:
        scheme, _, token = request.headers["authorization"].partition(" ")
        verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
        if scheme.lower() != "bearer" or not token or verifier is None:
            return _unauthorized(request, "A bearer token is required.")
        try:
            principal = await verifier.verify(token.strip())
        except AuthenticationError as exc:
            return _unauthorized(request, str(exc))
        if principal.session_id is not None and await self._deny_list.denied(principal.session_id):
            return _unauthorized(request, "The token's session was revoked.")
        return principal

    async def _forward(self, request: Request, url: str, service: str) -> Response:
        correlation_id = _correlation_id(request)
        headers = [(k, v) for k, v in request.headers.items() if k not in _NOT_FORWARDED]
        headers = [(k, v) for k, v in headers if k != CORRELATION]
        headers.append((CORRELATION, correlation_id))
        if request.client is not None:
            headers.append(("x-forwarded-for", request.client.host))
        streaming = "text/event-stream" in request.headers.get("accept", "")
        limit = self._config.upstream_timeout
        timeout = httpx.Timeout(limit, connect=2.0, read=None if streaming else limit)
        upstream_request = self._http.build_request(
            request.method,
            url,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
            timeout=timeout,
        )
        try:
            upstream = await self._http.send(upstream_request, stream=True)
            body = None if streaming else await _raw_body(upstream)
        except httpx.TransportError as exc:
            logger.warning("%s is unavailable: %r", service, exc)
            return _problem(
                request, 503, "Service Unavailable", f"The {service} service is unavailable."
            )
        returned = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_RETURNED}
        returned[CORRELATION] = correlation_id
        if body is not None:
            # Read whole, as raw bytes (any content-encoding passes through untouched): a
            # plain response costs less CPU than a streamed one.
            returned.pop("content-length", None)
            return Response(body, status_code=upstream.status_code, headers=returned)
        return StreamingResponse(
            _relay(upstream, service), status_code=upstream.status_code, headers=returned
        )


async def _raw_body(upstream: httpx.Response) -> bytes:
    """The whole upstream body as sent (not decoded); the connection is released after."""
    try:
        return b"".join([chunk async for chunk in upstream.aiter_raw()])
    finally:
        await upstream.aclose()


async def _relay(upstream: httpx.Response, service: str) -> AsyncIterator[bytes]:
    """The upstream body chunk by chunk as it arrives; the connection is released at the end."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:  # the answer has started: all we can do is end it
        logger.warning("%s broke off its answer: %r", service, exc)
    finally:
        await upstream.aclose()


def _correlation_id(request: Request) -> str:
    """The id the app's middleware chose (the caller's, or a new one)."""
    state: dict[str, Any] = request.scope.get("state") or {}
    chosen = state.get("correlation_id") or request.headers.get(CORRELATION)
    return str(chosen or uuid.uuid4())


def _client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _problem(request: Request, status: int, title: str, detail: str) -> JSONResponse:
    problem = Problem(title=title, status=status, detail=detail)
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={CORRELATION: _correlation_id(request)},
    )


def _unauthorized(request: Request, detail: str) -> JSONResponse:
    response = _problem(request, 401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
