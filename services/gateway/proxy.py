"""The edge proxy: `/api/<service>/<path>` to the service, after the token and the rate limit.

The path is checked and forwarded as sent (`paths`); a bearer token is verified here with
auth's keys (no call to auth) and refused when its session was revoked; a service's
operator endpoints need an admin; the caller (token subject, else the client address the
gateway decided, `clients`) is counted against a rate limit; the body is read up to the
route's limit (413 past it) and goes upstream on a shared connection pool; the answer
streams back as it comes, so an event stream flows through unbuffered.

Upstream requests go through aiohttp rather than httpx: at 40 orders/s py-spy put httpx,
httpcore and anyio at a quarter of the gateway's CPU. aiohttp is told to add nothing of its
own (no Accept, Accept-Encoding or User-Agent) and to decode nothing (bodies pass as sent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import aiohttp
from limits import parse
from multidict import CIMultiDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

from runtime.http import CORRELATION_HEADER, PROBLEM_JSON, Problem, ProblemError
from runtime.http.auth import AuthenticationError, Principal, TokenVerifier
from runtime.http.body_limit import limit_body
from services.gateway.clients import TrustedProxies
from services.gateway.config import SERVICES, GatewayConfig
from services.gateway.denylist import DenyList
from services.gateway.paths import UnforwardablePathError, is_operator_path, raw_path, split_path
from services.gateway.ratelimit import RateLimiter

__all__ = ["EdgeProxy"]

logger = logging.getLogger(__name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORRELATION = CORRELATION_HEADER
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
# What the gateway itself decides (who the client is, the correlation id) is not forwarded
# as the client wrote it.
_NOT_FORWARDED = _HOP_BY_HOP | {
    "host",
    "content-length",
    CORRELATION,
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
}
# The correlation id on the answer is set by the app's middleware (`runtime.http.Correlate`).
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server", "content-length"}
# Headers aiohttp would add to a request the client did not send them in.
_NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# A query goes upstream as the client sent it: visible ASCII only (no space, no control).
_FORWARDABLE_QUERY = frozenset(range(0x21, 0x7F))


class EdgeProxy:
    """The ASGI app mounted at `/api`: routing, authentication, rate limits, proxying."""

    def __init__(self, config: GatewayConfig, *, deny_list: DenyList, limiter: RateLimiter) -> None:
        self._config = config
        self._deny_list = deny_list
        self._limiter = limiter
        self._limit = parse(config.rate_limit)
        self._token_limit = parse(config.token_rate_limit)
        self._session: aiohttp.ClientSession | None = None  # made in the running loop
        self._proxies = TrustedProxies(config.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no websockets at the edge
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def aclose(self) -> None:
        """Close the upstream connection pool."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _upstream(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, force_close=False),
                auto_decompress=False,
                skip_auto_headers=_NOT_ADDED,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle(self, request: Request) -> Response:
        """Check, count, then forward one request; stream the answer back."""
        if request.method not in METHODS:
            problem = _problem(
                request, 405, "Method Not Allowed", f"{request.method} is not served."
            )
            problem.headers["Allow"] = ", ".join(METHODS)
            return problem
        try:
            service, path = split_path(raw_path(request.scope), request.scope.get("root_path", ""))
        except UnforwardablePathError as exc:
            return _problem(request, 400, "Bad Request", str(exc))
        if service not in SERVICES:
            return _problem(request, 404, "Not Found", "Paths are /api/<service>/<path>.")
        limit_body(request.scope, self._config.body_limit(service, unquote(path)))
        principal: Principal | None = None
        if "authorization" in request.headers:
            principal_or_problem = await self._authenticate(request)
            if isinstance(principal_or_problem, Response):
                return principal_or_problem
            principal = principal_or_problem
        if is_operator_path(path) and not (principal is not None and principal.is_admin):
            if principal is None:
                return _unauthorized(request, "A service's own endpoints need an admin's token.")
            return _problem(request, 403, "Forbidden", "A service's own endpoints need an admin.")
        token_endpoint = service == "auth" and unquote(path).strip("/") == "token"
        client_ip = self._client_ip(request)
        # Logins count per address whatever token comes along: one per guess would be a bucket each.
        client = str(principal.subject) if principal and not token_endpoint else client_ip
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
        return await self._forward(request, f"{base}/{path}", service, client_ip)

    def _client_ip(self, request: Request) -> str:
        """The client's address: the peer, or what a trusted proxy says it forwarded for."""
        peer = request.client.host if request.client is not None else "unknown"
        return self._proxies.client(peer, request.headers)

    async def _authenticate(self, request: Request) -> Principal | Response:
        scheme, _, token = request.headers["authorization"].partition(" ")
        verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
        if scheme.lower() != "bearer" or not token or verifier is None:
            return _unauthorized(request, "A bearer token is required.")
        try:
            principal = await verifier.verify(token.strip())
        except AuthenticationError as exc:
            return _unauthorized(request, str(exc))
        try:
            revoked = principal.session_id is not None and await self._deny_list.denied(
                principal.session_id
            )
        except ProblemError as exc:  # revoked sessions cannot be checked: 503, never waved
            problem = exc.problem
            return _problem(request, problem.status, problem.title, problem.detail or "")
        if revoked:
            return _unauthorized(request, "The token's session was revoked.")
        return principal

    async def _forward(self, request: Request, url: str, service: str, client_ip: str) -> Response:
        correlation_id = _correlation_id(request)
        query: bytes = request.scope.get("query_string", b"")
        if not _FORWARDABLE_QUERY.issuperset(query):
            return _problem(request, 400, "Bad Request", "The query cannot be forwarded as sent.")
        # Raw bytes, as received, read as latin-1: re-encoding as ASCII would fail on some.
        headers: CIMultiDict[str] = CIMultiDict(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() not in _NOT_FORWARDED
        )
        headers[CORRELATION] = correlation_id
        headers["x-forwarded-for"] = client_ip
        streaming = "text/event-stream" in request.headers.get("accept", "")
        limit = self._config.upstream_timeout
        timeout = aiohttp.ClientTimeout(
            total=None, connect=2.0, sock_read=None if streaming else limit
        )
        body = await request.body()  # up to the route's limit; past it a 413 (BodyLimit)
        try:
            target = URL(f"{url}?{query.decode('ascii')}" if query else url, encoded=True)
        except ValueError as exc:
            return _problem(request, 400, "Bad Request", f"The URL cannot be forwarded: {exc}")
        try:
            upstream = await self._upstream().request(
                request.method,
                target,
                headers=headers,
                data=body or None,
                timeout=timeout,
                allow_redirects=False,
            )
        except ValueError as exc:  # what the client sent cannot go on the wire
            return _problem(request, 400, "Bad Request", f"The request cannot be forwarded: {exc}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("%s is unavailable: %r", service, exc)
            return _problem(
                request, 503, "Service Unavailable", f"The {service} service is unavailable."
            )
        # An event stream is relayed as it comes, whatever the client's Accept said.
        streaming = streaming or _is_event_stream(upstream)
        if not streaming:
            try:
                answer = await upstream.read()  # raw bytes: any content-encoding passes through
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("%s is unavailable: %r", service, exc)
                return _problem(
                    request, 503, "Service Unavailable", f"The {service} service is unavailable."
                )
            finally:
                upstream.release()
            # A plain response costs less CPU than a streamed one.
            response = Response(answer, status_code=upstream.status)
        else:
            response = StreamingResponse(_relay(upstream, service), status_code=upstream.status)
        # Every header as the service sent it, repeated ones (Set-Cookie) included.
        response.raw_headers.extend(
            (k.lower(), v)
            for k, v in upstream.raw_headers
            if k.decode("latin-1").lower() not in _NOT_RETURNED
        )
        return response


def _is_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    content_type: str = upstream.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


async def _relay(upstream: aiohttp.ClientResponse, service: str) -> AsyncIterator[bytes]:
    """The upstream body chunk by chunk as it arrives; the connection is released at the end."""
    try:
        async for chunk in upstream.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:  # the answer has started: end it
        logger.warning("%s broke off its answer: %r", service, exc)
    finally:
        upstream.release()


def _correlation_id(request: Request) -> str:
    """The id the app's middleware chose (the caller's, or a new one)."""
    state: dict[str, Any] = request.scope.get("state") or {}
    chosen = state.get("correlation_id") or request.headers.get(CORRELATION)
    return str(chosen or uuid.uuid4())


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
