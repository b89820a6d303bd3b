"""The one FastAPI app factory: problem+json errors, health, metrics, correlation ids,
a request body limit and the revoked sessions' check of bearer tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.eventstore.base import StoreUnavailableError
from runtime.http.bodies import NUL_DETAIL
from runtime.http.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from runtime.http.problem import PROBLEM_JSON, Problem, ProblemError
from runtime.observability import LATENCY_BUCKETS, following

if TYPE_CHECKING:
    from runtime.http.auth import RevocationList, TokenVerifier

__all__ = ["CORRELATION_HEADER", "LIVENESS_PATH", "READINESS_PATH", "ReadinessCheck", "create_app"]

CORRELATION_HEADER = "x-correlation-id"
LIVENESS_PATH = "/healthz"
"""Answers 200 while the process serves: what an orchestrator's liveness probe asks."""
READINESS_PATH = "/readyz"
"""200 once every readiness check passes (servers reached), else 503 problem+json."""
ReadinessCheck = Callable[[], Awaitable[bool]]
STORE_RETRY_AFTER = "1"
"""Seconds a client is told to wait when the database is out of reach (a restart takes ~1 s)."""


def _problem_response(problem: Problem, correlation_id: str | None = None) -> JSONResponse:
    headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def create_app(
    service: str,
    routers: Sequence[APIRouter],
    *,
    readiness: Sequence[ReadinessCheck] = (),
    registry: CollectorRegistry | None = None,
    tracing: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
    version: str = "1.0.0",
    verifier: TokenVerifier | None = None,
    revocations: RevocationList | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """A service's HTTP app: its generated routers plus the platform's endpoints and errors.

    `verifier` checks the bearer tokens of the operations whose contract asks for one, and
    `revocations` refuses those of revoked sessions. A body over `max_body_bytes` is a 413.
    With `tracing`, each request whose trace is sampled gets a server span (from
    `tracer_provider`, else the process's).
    """
    # FastAPI's own telemetry (on by default since 0.16x) would start a second server span
    # per request and OpenTelemetry metrics beside ours, for every request, sampled or not.
    app = FastAPI(
        title=f"A4CO {service} service",
        version=version,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.verifier = verifier
    app.state.revocations = revocations
    metrics = registry or CollectorRegistry()
    requests = Counter(
        "http_requests", "HTTP requests answered", ["service", "status"], registry=metrics
    )
    latency = Histogram(
        "a4co_http_request_seconds",
        "Time to answer a request, by the contract's operationId",
        ["service", "operation"],
        buckets=LATENCY_BUCKETS,
        registry=metrics,
    )
    tracer = trace.get_tracer(f"a4co.{service}.http", tracer_provider=tracer_provider)
    for router in routers:
        app.include_router(router)
    _install_errors(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    app.add_middleware(
        Correlate,
        service=service,
        requests=requests,
        latency=latency,
        tracer=tracer if tracing else None,
    )

    @app.get(LIVENESS_PATH, include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(READINESS_PATH, include_in_schema=False)
    async def readyz() -> Response:
        results = [await check() for check in readiness]
        if all(results):
            return JSONResponse({"status": "ready", "service": service})
        return _problem_response(
            Problem(title="Not Ready", status=503, detail=f"{results.count(False)} check(s) failed")
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app


class Correlate:
    """Every request's correlation id, metrics and server span; a NUL in the URL refused.

    The correlation id is the caller's `x-correlation-id`, else a new one; it is kept in the
    request's state for the handlers and error handlers, and set on every response. Plain
    ASGI rather than Starlette's `BaseHTTPMiddleware`, which runs the app in a task group of
    its own and re-streams every response: a third of the gateway's CPU per request went
    there (py-spy at 40 orders/s).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        requests: Counter,
        latency: Histogram,
        tracer: trace.Tracer | None,
    ) -> None:
        self.app = app
        self._service = service
        self._requests = requests
        self._latency = latency
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        correlation_id = headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        stamp = (CORRELATION_HEADER.encode(), correlation_id.encode("latin-1"))
        status = 500  # what the server answers should the app raise before it starts one

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [h for h in message.get("headers", ()) if h[0].lower() != stamp[0]]
                message = {**message, "headers": [*kept, stamp]}
            await send(message)

        try:
            if (where := _holding_nul(scope)) is not None:
                # A path holding one names no resource (400, as the gateway answers any path
                # it cannot forward); a query parameter holding one is a value refused (422).
                code = 400 if where.startswith("path") else 422
                problem = Problem(title=_TITLES[code], status=code, detail=where)
                await _problem_response(problem)(scope, receive, send_with_id)
            elif self._tracer is not None:
                name = f"{scope['method']} {scope['path']}"
                traceparent = headers.get("traceparent")
                with following(self._tracer, traceparent, name, kind=SpanKind.SERVER):
                    await self.app(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            self._requests.labels(self._service, str(status)).inc()
            if (operation := _operation_id(scope)) is not None:
                elapsed = time.perf_counter() - started
                self._latency.labels(self._service, operation).observe(elapsed)


def _operation_id(scope: Scope) -> str | None:
    """The contract's operationId of the route that answered, or None (health, metrics, 404)."""
    route = scope.get("route")
    return route.operation_id if isinstance(route, APIRoute) and route.operation_id else None


def _holding_nul(scope: Scope) -> str | None:
    """Which part of the URL holds U+0000 (sent as `%00`), as a validation detail; or None.

    No text of the platform may hold it (PostgreSQL refuses it), so a parameter carrying
    one is refused before any route reads it, instead of failing in the database.
    """
    if "\x00" in scope.get("path", ""):
        return f"path: {NUL_DETAIL}"
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query:
        return None
    for name, value in QueryParams(query).multi_items():
        if "\x00" in name or "\x00" in value:
            return f"query.{name.replace(chr(0), '')}: {NUL_DETAIL}"
    return None


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods = {
        method
        for route in request.app.routes
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
        for method in route.methods or ()
    }
    return ", ".join(sorted(methods))


def _install_errors(app: FastAPI) -> None:
    def correlation(request: Request) -> str | None:
        return getattr(request.state, "correlation_id", None)

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        response = _problem_response(exc.problem, correlation(request))
        response.headers.update(exc.headers)
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors: list[dict[str, Any]] = list(exc.errors())
        malformed = any(e.get("type") == "json_invalid" for e in errors)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]
        )
        problem = Problem(
            title="Bad Request" if malformed else "Unprocessable Content",
            status=400 if malformed else 422,
            detail=detail[:500],
        )
        return _problem_response(problem, correlation(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        problem = Problem(
            title=_TITLES.get(exc.status_code, "Error"),
            status=exc.status_code,
            detail=str(exc.detail) if exc.detail else None,
        )
        response = _problem_response(problem, correlation(request))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    async def on_store_unavailable(request: Request, exc: Exception) -> Response:
        problem = Problem(
            title="Service Unavailable",
            status=503,
            detail="the service's database is unavailable; try again in a moment",
        )
        response = _problem_response(problem, correlation(request))
        response.headers["Retry-After"] = STORE_RETRY_AFTER
        return response

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(StoreUnavailableError, on_store_unavailable)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
