"""The gateway on real NATS, PostgreSQL and Redis, in front of the real auth service and a
stand-in upstream, everything served over HTTP (an event stream must cross it unbuffered).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from generated.platform import STREAMS
from runtime.eventstore.postgres import connection_of
from runtime.http import PROBLEM_JSON
from runtime.http.passwords import hash_password
from runtime.service import ServiceHost, Settings
from services.auth.logins import Login, LoginViews
from services.auth.service import definition as auth_definition
from services.gateway.config import GatewayConfig
from services.gateway.denylist import DenyList
from services.gateway.proxy import EdgeProxy
from services.gateway.ratelimit import RateLimiter
from services.gateway.service import definition as gateway_definition
from tests.e2e.harness import TEST_KEY, eventually, free_port, serve_asgi
from tests.integration.test_auth_service import PASSWORD, serving

WAIT = 10.0


class Upstream:
    """A stand-in service: echoes requests, and streams events as the test releases them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.paths: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/echo/{rest:path}", self.echo, methods=["GET", "POST", "DELETE"]),
                Route("/events", self.events),
                Route("/cookies", self.cookies),
            ]
        )

    async def echo(self, request: Request) -> JSONResponse:
        self.paths.append(request.url.path)
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "body": (await request.body()).decode(),
                "headers": dict(request.headers),
            }
        )

    async def cookies(self, request: Request) -> Response:
        """Two Set-Cookie headers and a gzip body, sent as they are."""
        answer = Response(gzip.compress(b"packed"), headers={"content-encoding": "gzip"})
        answer.raw_headers += [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
        return answer

    async def events(self, request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await self.release.wait()
            yield b"data: second\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")


@dataclass
class Edge:
    """The running gateway, auth and upstream, and a client."""

    url: str
    auth: ServiceHost
    auth_url: str
    upstream: Upstream
    http: httpx.AsyncClient

    async def customer_tokens(self) -> dict[str, Any]:
        """A new customer's login (stored as auth's handlers would), logged in via the gateway."""
        user_id, now = uuid.uuid4(), datetime.now(UTC)
        email = f"g{user_id.hex}@example.com"
        password_hash = await asyncio.to_thread(hash_password, PASSWORD)
        assert self.auth.context is not None
        async with self.auth.context.transaction() as tx:
            login = Login(user_id, email, "customer", password_hash)
            await LoginViews("auth").credentials_set(connection_of(tx), login, now, now)
        response = await self.http.post(
            f"{self.url}/api/auth/token",
            json={"grant_type": "password", "username": email, "password": PASSWORD},
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens


@pytest.fixture(scope="module")
async def edge(nats_url: str, database_url: str, redis_url: str) -> AsyncIterator[Edge]:
    """Auth, a stand-in upstream, and the gateway in front of them, for the module."""
    upstream = Upstream()

    def settings(service: str, **more: Any) -> Settings:
        return Settings(
            service=service,
            nats_url=nats_url,
            database_url=database_url,
            redis_url=redis_url,
            **more,
        )

    async with (
        serving(auth_definition(bootstrap_admin=""), settings("auth")) as (auth_host, auth_url),
        serve_asgi(upstream.app) as upstream_url,
    ):
        config = GatewayConfig(
            upstreams={
                "auth": auth_url,
                "user": upstream_url,
                "notification": upstream_url,
                "order": f"http://127.0.0.1:{free_port()}",  # nobody listens there
            },
            rate_limit="1000/second",
            token_rate_limit="1000/second",
        )
        jwks = f"{auth_url}/.well-known/jwks.json"
        async with (
            serving(gateway_definition(config), settings("gateway", jwks_url=jwks)) as (_, url),
            httpx.AsyncClient(timeout=WAIT) as http,
        ):
            yield Edge(url, auth_host, auth_url, upstream, http)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_request_is_routed_with_its_method_query_body_and_headers(edge: Edge) -> None:
    response = await edge.http.post(
        f"{edge.url}/api/user/echo/a/b?x=1&y=2",
        content=b'{"k": "v"}',
        headers={
            "content-type": "application/json",
            "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        },
    )

    echoed = response.json()
    assert response.status_code == 200
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("POST", "/echo/a/b", "x=1&y=2")
    assert echoed["body"] == '{"k": "v"}'
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["headers"]["traceparent"].startswith("00-" + "1" * 32)


async def test_the_gateway_adds_no_header_of_its_own_and_decodes_nothing(edge: Edge) -> None:
    sent = await edge.http.send(
        edge.http.build_request("GET", f"{edge.url}/api/user/echo/bare", headers={})
    )
    forwarded = set(sent.json()["headers"])
    # what the client's library sent, and what the gateway decides, nothing else
    assert forwarded <= {
        *(k.lower() for k in sent.request.headers),
        "x-correlation-id",
        "x-forwarded-for",
    }
    async with (
        httpx.AsyncClient(headers={"accept-encoding": "gzip"}) as raw,
        raw.stream("GET", f"{edge.url}/api/user/cookies") as answer,
    ):
        body = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.headers["content-encoding"] == "gzip" and gzip.decompress(body) == b"packed"
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_a_query_of_raw_bytes_is_a_400_problem_and_goes_nowhere(edge: Edge) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    for query in (b"q=caf\xe9", b"q=\x01", b"q=a\tb"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/user/echo/q?" + query + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answer = await reader.read(65536)
        writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer else 0
        assert not answer or 400 <= status < 500, (query, answer[:200])
    assert not any(p.endswith("/q") for p in edge.upstream.paths)


async def asgi_get(
    proxy: EdgeProxy,
    path: str,
    *,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    app: Starlette | None = None,
) -> tuple[dict[str, Any], bytes]:
    """GET `path` from the proxy by raw ASGI, with no server in between (one that would
    refuse the request itself): the response's start message and its body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"x"), *headers],
        "client": ("127.0.0.1", 1),
        "app": app or Starlette(),
    }
    await proxy(scope, receive, send)
    return sent[0], b"".join(m.get("body", b"") for m in sent[1:])


async def test_behind_a_server_that_lets_raw_bytes_through_the_query_is_still_refused(
    redis_url: str,
) -> None:
    # uvicorn refuses such a request line itself; the gateway does not count on its server
    config = GatewayConfig(upstreams={"user": f"http://127.0.0.1:{free_port()}"})
    deny_list = DenyList(Redis.from_url(redis_url), lifetime=60)
    proxy = EdgeProxy(
        config,
        deny_list=deny_list,
        limiter=RateLimiter(redis_url, namespace=f"t{uuid.uuid4().hex}"),
    )
    try:
        start, body = await asgi_get(proxy, "/user/echo/q", query=b"q=a b\x01")
    finally:
        await proxy.aclose()
        await deny_list.close()
    assert start["status"] == 400 and b"cannot be forwarded" in body


async def test_a_session_that_cannot_be_checked_is_a_503_problem_not_waved_through(
    redis_url: str,
) -> None:
    # The deny list's Redis is unreachable (the rate limiter's is not): a token with a
    # session cannot be checked against revocations, so it is refused with 503, not a 500.
    config = GatewayConfig(upstreams={"user": f"http://127.0.0.1:{free_port()}"})
    deny_list = DenyList(Redis.from_url(f"redis://127.0.0.1:{free_port()}"), lifetime=60)
    proxy = EdgeProxy(
        config,
        deny_list=deny_list,
        limiter=RateLimiter(redis_url, namespace=f"t{uuid.uuid4().hex}"),
    )
    token = TEST_KEY.issue(uuid.uuid4(), ["customer"], session_id=uuid.uuid4())
    app = Starlette()
    app.state.verifier = TEST_KEY
    try:
        start, body = await asgi_get(
            proxy,
            "/user/echo/me",
            headers=[(b"authorization", f"Bearer {token}".encode())],
            app=app,
        )
    finally:
        await proxy.aclose()
        await deny_list.close()
    assert start["status"] == 503, body
    assert (b"content-type", PROBLEM_JSON.encode()) in start["headers"]
    assert b"Revoked sessions cannot be checked" in body


async def test_the_correlation_id_is_passed_on_or_made_and_returned(edge: Edge) -> None:
    given = await edge.http.get(
        f"{edge.url}/api/user/echo/c", headers={"X-Correlation-Id": "abc-1"}
    )
    made = await edge.http.get(f"{edge.url}/api/user/echo/c")

    assert given.json()["headers"]["x-correlation-id"] == "abc-1"
    assert given.headers["x-correlation-id"] == "abc-1"
    assert made.headers["x-correlation-id"] == made.json()["headers"]["x-correlation-id"]
    assert uuid.UUID(made.headers["x-correlation-id"])


async def test_a_valid_token_passes_and_reaches_the_upstream(edge: Edge) -> None:
    tokens = await edge.customer_tokens()

    response = await edge.http.get(
        f"{edge.url}/api/user/echo/me", headers=bearer(tokens["access_token"])
    )

    assert response.status_code == 200
    assert response.json()["headers"]["authorization"] == f"Bearer {tokens['access_token']}"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Basic dXNlcjpwYXNz", f"Bearer {TEST_KEY.issue(uuid.uuid4())}"],
)
async def test_a_bad_token_is_a_401_problem(edge: Edge, authorization: str) -> None:
    response = await edge.http.get(
        f"{edge.url}/api/user/echo/me", headers={"Authorization": authorization}
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_session_is_refused_while_another_session_still_passes(
    edge: Edge,
) -> None:
    revoked = await edge.customer_tokens()
    other = await edge.customer_tokens()
    path = f"{edge.url}/api/user/echo/me"
    assert (await edge.http.get(path, headers=bearer(revoked["access_token"]))).status_code == 200

    outcome = await edge.http.post(
        f"{edge.url}/api/auth/revoke", json={"token": revoked["refresh_token"]}
    )

    async def refused() -> bool:
        response = await edge.http.get(path, headers=bearer(revoked["access_token"]))
        return response.status_code == 401

    await eventually(refused, timeout=WAIT)
    assert outcome.json()["revoked"] is True
    assert (await edge.http.get(path, headers=bearer(other["access_token"]))).status_code == 200


async def test_an_event_stream_flows_through_before_it_ends(edge: Edge) -> None:
    edge.upstream.release.clear()
    lines: list[str] = []
    async with edge.http.stream(
        "GET", f"{edge.url}/api/notification/events", headers={"Accept": "text/event-stream"}
    ) as response:
        reader = response.aiter_lines()

        async def next_data() -> str:
            while not (line := await anext(reader)).startswith("data:"):
                pass
            return line

        lines.append(await asyncio.wait_for(next_data(), WAIT))  # before the stream can end
        assert not edge.upstream.release.is_set()
        edge.upstream.release.set()
        lines.append(await asyncio.wait_for(next_data(), WAIT))

    assert response.headers["content-type"].startswith("text/event-stream")
    assert lines == ["data: first", "data: second"]


async def test_an_unknown_service_is_a_404_problem(edge: Edge) -> None:
    unknown = await edge.http.get(f"{edge.url}/api/nosuch/x")
    bare = await edge.http.get(f"{edge.url}/api/")

    assert (unknown.status_code, bare.status_code) == (404, 404)
    assert unknown.headers["content-type"].startswith(PROBLEM_JSON)
    assert bare.headers["content-type"].startswith(PROBLEM_JSON)


async def test_a_service_that_is_down_or_unconfigured_is_a_503_problem(edge: Edge) -> None:
    down = await edge.http.get(f"{edge.url}/api/order/orders")
    unconfigured = await edge.http.get(f"{edge.url}/api/geo/provinces")

    assert (down.status_code, unconfigured.status_code) == (503, 503)
    assert down.json()["title"] == "Service Unavailable"


async def test_health_endpoints_are_not_shadowed_by_the_proxy(edge: Edge) -> None:
    health = await edge.http.get(f"{edge.url}/healthz")
    ready = await edge.http.get(f"{edge.url}/readyz")
    metrics = await edge.http.get(f"{edge.url}/metrics")

    assert health.json() == {"status": "ok", "service": "gateway"}
    assert (ready.status_code, metrics.status_code) == (200, 200)


async def test_cors_preflight_allows_local_origins_only(edge: Edge) -> None:
    def preflight(origin: str) -> Any:
        return edge.http.options(
            f"{edge.url}/api/user/echo/x",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )

    local = await preflight("http://localhost:5173")
    foreign = await preflight("https://evil.example")

    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in local.headers["access-control-allow-methods"]
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers


async def test_over_the_limit_a_client_gets_429_with_retry_after(
    edge: Edge, nats_url: str, database_url: str, redis_url: str, unique_id: str
) -> None:
    config = GatewayConfig(
        upstreams={"user": edge.auth_url, "auth": edge.auth_url},
        rate_limit="3/minute",
        token_rate_limit="2/minute",
        namespace=f"a4co:test:{unique_id}",
    )
    limited = dataclasses.replace(gateway_definition(config), subscriptions=())
    settings = Settings(
        service="gateway", nats_url=nats_url, database_url=database_url, redis_url=redis_url
    )
    host = ServiceHost(limited, settings, STREAMS, verifier=TEST_KEY)
    app = await host.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as http:
            me, other = TEST_KEY.issue(uuid.uuid4()), TEST_KEY.issue(uuid.uuid4())
            mine = [
                (await http.get("/api/user/healthz", headers=bearer(me))).status_code
                for _ in range(4)
            ]
            others = (await http.get("/api/user/healthz", headers=bearer(other))).status_code
            logins = [(await http.post("/api/auth/token", json={})).status_code for _ in range(3)]
            refused = await http.get("/api/user/healthz", headers=bearer(me))
    finally:
        await host.stop()

    assert mine == [200, 200, 200, 429]
    assert others == 200
    assert logins == [422, 422, 429]
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
