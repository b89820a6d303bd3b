"""The gateway attacked at its edge, over real sockets: spoofed client addresses, paths a
service could read as others, bodies too large to read, its services' own endpoints.

The gateway runs on real Redis (rate limits, revoked sessions), served by uvicorn as
`runtime.service.host.serve` serves it (no proxy-header handling of uvicorn's own), in
front of a stand-in upstream that records what reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from generated.platform import STREAMS
from runtime.http import PROBLEM_JSON
from runtime.http.revocation import (
    RedisRevocations,
    SessionAnswers,
    revoked_channel,
    revoked_key,
)
from runtime.service import ServiceHost, Settings
from services.cms.service import definition as cms_definition
from services.gateway.config import GatewayConfig
from services.gateway.denylist import DenyList
from services.gateway.service import definition as gateway_definition
from tests.e2e.harness import TEST_KEY, bound_socket, eventually, serve_asgi

MiB = 1 << 20


@dataclass
class Upstream:
    """A stand-in service that records each request it got (path, client, body length)."""

    seen: list[dict[str, object]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{rest:path}", self.record, methods=["GET", "POST"])])

    async def record(self, request: Request) -> JSONResponse:
        body = await request.body()
        entry: dict[str, object] = {
            "path": request.url.path,
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "length": len(body),
        }
        self.seen.append(entry)
        return JSONResponse(entry)


@dataclass
class Edge:
    """A running gateway (URL, host and port) and its upstream."""

    url: str
    port: int
    upstream: Upstream


@contextlib.asynccontextmanager
async def gateway_serving(
    config: GatewayConfig, nats_url: str, database_url: str, redis_url: str
) -> AsyncIterator[tuple[str, int]]:
    """The gateway with `config`, served like `serve` serves it; yields (URL, port)."""
    settings = Settings(
        service="gateway", nats_url=nats_url, database_url=database_url, redis_url=redis_url
    )
    host = ServiceHost(
        dataclasses.replace(gateway_definition(config), subscriptions=()),
        settings,
        STREAMS,
        verifier=TEST_KEY,
    )
    app = await host.start()
    sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", http="httptools", proxy_headers=False
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        await task
        sock.close()
        await host.stop()


@pytest.fixture
async def edge(
    nats_url: str, database_url: str, redis_url: str, unique_id: str
) -> AsyncIterator[Edge]:
    """A gateway whose login limit is 3 a minute, with every service on one stand-in."""
    upstream = Upstream()
    async with serve_asgi(upstream.app()) as upstream_url:
        config = GatewayConfig(
            upstreams={"auth": upstream_url, "user": upstream_url, "cms": upstream_url},
            token_rate_limit="3/minute",
            namespace=f"a4co:test:{unique_id}",
        )
        async with gateway_serving(config, nats_url, database_url, redis_url) as (url, port):
            yield Edge(url, port, upstream)


async def raw_exchange(port: int, head: bytes, body: AsyncIterator[bytes] | None = None) -> bytes:
    """Send `head` (and `body`'s chunks while the server reads), return what came back.

    Stops sending as soon as the server has answered: a refused upload goes no further.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        answer = asyncio.create_task(reader.read(65536))
        if body is not None:
            async for chunk in body:
                if answer.done():
                    break
                writer.write(chunk)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        return await asyncio.wait_for(answer, 10.0)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def problem_of(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert PROBLEM_JSON.encode() in head.lower(), head
    problem: dict[str, object] = json.loads(body)
    return problem


def bearer(roles: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_KEY.issue(uuid.uuid4(), roles)}"}


async def test_a_spoofed_forwarded_for_does_not_escape_the_login_limit(edge: Edge) -> None:
    async with httpx.AsyncClient() as http:
        statuses = [
            (
                await http.post(
                    f"{edge.url}/api/auth/token",
                    json={"grant_type": "password", "username": "a@b.es", "password": "guess"},
                    headers={
                        "X-Forwarded-For": f"203.0.113.{attempt}",
                        "Forwarded": f"for=198.51.100.{attempt}",
                        "X-Real-IP": f"192.0.2.{attempt}",
                        **bearer(["customer"]),  # a fresh identity each time changes nothing
                    },
                )
            ).status_code
            for attempt in range(5)
        ]

    assert statuses == [200, 200, 200, 429, 429]
    assert {s["forwarded_for"] for s in edge.upstream.seen} == {"127.0.0.1"}


async def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(
    nats_url: str, database_url: str, redis_url: str, unique_id: str
) -> None:
    upstream = Upstream()
    async with serve_asgi(upstream.app()) as upstream_url:
        config = GatewayConfig(
            upstreams={"auth": upstream_url},
            token_rate_limit="2/minute",
            namespace=f"a4co:test:{unique_id}",
            trusted_proxies=("127.0.0.1",),
        )
        async with (
            gateway_serving(config, nats_url, database_url, redis_url) as (url, _),
            httpx.AsyncClient() as http,
        ):

            async def login(chain: str) -> int:
                response = await http.post(
                    f"{url}/api/auth/token", json={}, headers={"X-Forwarded-For": chain}
                )
                return response.status_code

            # The client writes anything on the left; the proxy appends whom it saw.
            same_client = [await login(f"10.9.9.{n}, 203.0.113.7") for n in range(3)]
            other_client = await login("10.9.9.1, 203.0.113.8")

    assert same_client == [200, 200, 429]
    assert other_client == 200
    assert [s["forwarded_for"] for s in upstream.seen] == ["203.0.113.7"] * 2 + ["203.0.113.8"]


@pytest.mark.parametrize(
    "target",
    [
        b"/api/user/users/a%00b",
        b"/api/user/users/%1b%5b2J",
        b"/api/user/users/../../metrics",
        b"/api/user/users/%2e%2e/%2E%2E/metrics",
        b"/api/user/users%2F..%2Fmetrics",
        b"/api/user/users/a%5c..%5cmetrics",
        b"/api/user/users/%ff%fe",
    ],
)
async def test_a_path_no_service_should_see_is_a_400_problem_and_goes_nowhere(
    edge: Edge, target: bytes
) -> None:
    answer = await raw_exchange(edge.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status_of(answer) == 400
    assert problem_of(answer)["status"] == 400
    assert edge.upstream.seen == []


@pytest.mark.parametrize(
    "target", [b"/api/user/a\x01b", b"/api/user/a\x00b", b"/api/user/a\x7fb", b"/api/user/a b"]
)
async def test_raw_control_characters_in_the_request_line_are_refused(
    edge: Edge, target: bytes
) -> None:
    answer = await raw_exchange(edge.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert not answer or 400 <= status_of(answer) < 500  # uvicorn's 400, or a closed socket
    assert edge.upstream.seen == []


async def test_an_encoded_service_name_or_an_unknown_one_is_a_404_problem(edge: Edge) -> None:
    # A decoded line break matches no route at all (Starlette's path patterns stop at it).
    for target in (b"/api/%75ser/users", b"/api/nosuch/x", b"/api/", b"/api/user/a%0d%0aX-I:%201"):
        answer = await raw_exchange(edge.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(answer) == 404, target
        assert problem_of(answer)["status"] == 404
    assert edge.upstream.seen == []


async def test_a_path_is_forwarded_as_sent_not_decoded_twice(edge: Edge) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{edge.url}/api/user/users/%2541%20b")

    assert response.json()["path"] == "/users/%41 b"  # what the client meant, decoded once


async def test_a_declared_50_mb_body_is_refused_before_any_of_it_is_sent(edge: Edge) -> None:
    head = (
        b"POST /api/user/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 52428800\r\n\r\n"
    )

    answer = await raw_exchange(edge.port, head)  # not one byte of the body

    assert status_of(answer) == 413
    assert problem_of(answer)["title"] == "Content Too Large"
    assert edge.upstream.seen == []


async def test_a_chunked_50_mb_body_is_refused_soon_after_the_limit(edge: Edge) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        piece = b"x" * (64 << 10)
        while sent < 50 * MiB:
            sent += len(piece)
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
            await asyncio.sleep(0)  # let the answer in when it comes
        yield b"0\r\n\r\n"

    head = (
        b"POST /api/user/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer = await raw_exchange(edge.port, head, chunks())

    assert status_of(answer) == 413
    assert sent < 8 * MiB  # the 1 MiB limit plus what the sockets' buffers held
    assert edge.upstream.seen == []


async def test_a_password_guess_cannot_bring_more_than_auths_small_limit(edge: Edge) -> None:
    async with httpx.AsyncClient() as http:
        huge = await http.post(f"{edge.url}/api/auth/token", json={"password": "x" * (64 << 10)})
        fine = await http.post(f"{edge.url}/api/user/users", json={"bio": "x" * (64 << 10)})

    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith(PROBLEM_JSON)
    assert fine.status_code == 200
    assert [s["path"] for s in edge.upstream.seen] == ["/users"]


async def test_a_huge_number_or_a_nonsense_length_never_reaches_a_service(edge: Edge) -> None:
    huge = await raw_exchange(
        edge.port,
        b"POST /api/user/users HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n",
    )
    negative = await raw_exchange(
        edge.port, b"POST /api/user/users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    )

    assert 400 <= status_of(huge) < 500
    assert 400 <= status_of(negative) < 500
    assert edge.upstream.seen == []


async def test_malformed_headers_are_refused_or_forwarded_never_a_500(edge: Edge) -> None:
    statuses = []
    for header in (
        b"Authorization: Bearer \xff\xfe\r\n",
        b"Authorization: Bearer\r\n",
        b"Authorization: \r\n",
        b"X-Note: caf\xe9\r\n",
        b'Forwarded: for="[::1\r\n',
        b"X-Forwarded-For: ,,,\r\n",
    ):
        answer = await raw_exchange(
            edge.port, b"GET /api/user/users HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n"
        )
        statuses.append(status_of(answer))

    assert statuses == [401, 401, 401, 200, 200, 200]


async def test_services_own_endpoints_need_an_admin(edge: Edge) -> None:
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{edge.url}/api/cms/metrics")
        encoded = await http.get(f"{edge.url}/api/cms/%6detrics")
        docs = await http.get(f"{edge.url}/api/cms/docs")
        schema = await http.get(f"{edge.url}/api/cms/openapi.json", headers=bearer(["customer"]))
        admin = await http.get(f"{edge.url}/api/cms/metrics", headers=bearer(["admin"]))

    assert (anonymous.status_code, encoded.status_code, docs.status_code) == (401, 401, 401)
    assert schema.status_code == 403
    assert schema.headers["content-type"].startswith(PROBLEM_JSON)
    assert admin.status_code == 200
    assert [s["path"] for s in edge.upstream.seen] == ["/metrics"]


async def test_a_service_refuses_a_revoked_token_sent_to_it_directly(
    nats_url: str, database_url: str, redis_url: str
) -> None:
    settings = Settings(
        service="cms", nats_url=nats_url, database_url=database_url, redis_url=redis_url
    )
    host = ServiceHost(
        dataclasses.replace(cms_definition(), subscriptions=()),
        settings,
        STREAMS,
        verifier=TEST_KEY,
    )
    app = await host.start()
    revoked, live = uuid.uuid4(), uuid.uuid4()
    deny_list = DenyList(redis.asyncio.from_url(redis_url), lifetime=900)
    try:
        await deny_list.deny(revoked, datetime.now(UTC))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cms"
        ) as http:

            async def publish(session: uuid.UUID) -> httpx.Response:
                token = TEST_KEY.issue(uuid.uuid4(), ["admin"], session_id=session)
                return await http.put(
                    "/pages/edge", json={}, headers={"Authorization": f"Bearer {token}"}
                )

            refused, passed = await publish(revoked), await publish(live)
    finally:
        await deny_list.close()
        await host.stop()

    assert refused.status_code == 401
    assert refused.json()["detail"] == "The token's session was revoked."
    assert passed.status_code == 422  # past authentication, to the (empty) body


async def test_a_session_found_live_is_asked_about_again_after_a_moment(redis_url: str) -> None:
    """Without a listener, a replica that did not consume the revocation learns it from
    Redis within `fresh_for`."""
    clock = Clock()
    consumer = DenyList(redis.asyncio.from_url(redis_url), lifetime=900, listen=False)
    replica = DenyList(
        redis.asyncio.from_url(redis_url),
        lifetime=900,
        answers=SessionAnswers(fresh_for=1.0, clock=clock),
        listen=False,
    )
    service = RedisRevocations(
        redis.asyncio.from_url(redis_url),
        answers=SessionAnswers(fresh_for=1.0, clock=clock),
        listen=False,
    )
    session = uuid.uuid4()
    try:
        before = (await replica.denied(session), await service.revoked(session))
        await consumer.deny(session, datetime.now(UTC))
        within = (await replica.denied(session), await service.revoked(session))
        clock.now += 1.0
        after = (await replica.denied(session), await service.revoked(session))
    finally:
        await consumer.close()
        await replica.close()
        await service.close()

    assert before == (False, False)
    assert within == (False, False), "a live answer is remembered for fresh_for"
    assert after == (True, True)


class CountingRedis(redis.asyncio.Redis):
    """A Redis client that counts the EXISTS it sends (the revocation reads)."""

    exists_sent = 0

    async def exists(self, *names: Any) -> Any:
        self.exists_sent += 1
        return await super().exists(*names)


async def listening(revocations: RedisRevocations) -> None:
    """Start `revocations`' listener (by a first question) and wait until it listens."""
    await revocations.revoked(uuid.uuid4())
    await eventually(lambda: revocations.listening)


async def test_a_listening_process_asks_about_a_live_session_once_and_hears_its_revocation(
    redis_url: str,
) -> None:
    clock = Clock()
    consumer = DenyList(redis.asyncio.from_url(redis_url), lifetime=900)
    reads = CountingRedis.from_url(redis_url)
    service = RedisRevocations(reads, answers=SessionAnswers(fresh_for=1.0, clock=clock))
    session = uuid.uuid4()
    try:
        await listening(service)
        before = reads.exists_sent
        first = await service.revoked(session)
        clock.now += 600  # long past fresh_for: the listener vouches for the answer
        later = await service.revoked(session)
        asked = reads.exists_sent - before
        await consumer.deny(session, datetime.now(UTC))
        await eventually(lambda: service.revoked(session))  # the push, no clock moved
        asked_in_all = reads.exists_sent - before
    finally:
        await consumer.close()
        await service.close()

    assert (first, later) == (False, False)
    assert asked == 1, "a live session is asked about once while listening"
    assert asked_in_all == 1, "its revocation was heard, not asked"


async def test_a_revocation_missed_while_not_listening_is_found_once_listening_again(
    redis_url: str,
) -> None:
    # The key is stored without its publication (as if published while the subscription was
    # down); the live answer stands until the subscription is cut and made again, and then
    # the session is asked about again and found revoked.
    clock = Clock()
    admin = redis.asyncio.from_url(redis_url)
    service = RedisRevocations(
        redis.asyncio.from_url(redis_url),
        answers=SessionAnswers(fresh_for=1.0, clock=clock),
        retry_delay=0.05,
    )
    session = uuid.uuid4()
    try:
        await listening(service)
        assert await service.revoked(session) is False
        await admin.set(revoked_key(session), b"1", ex=60)
        clock.now += 600
        stale = await service.revoked(session)
        await admin.client_kill_filter(_type="pubsub")
        await eventually(lambda: service.revoked(session))
    finally:
        await admin.aclose()
        await service.close()

    assert stale is False, "without a publication the live answer stands while listening"


async def test_a_malformed_publication_is_ignored_and_the_listener_goes_on(
    redis_url: str,
) -> None:
    publisher = redis.asyncio.from_url(redis_url)
    consumer = DenyList(redis.asyncio.from_url(redis_url), lifetime=900)
    service = RedisRevocations(redis.asyncio.from_url(redis_url))
    session = uuid.uuid4()
    try:
        await listening(service)
        assert await service.revoked(session) is False
        for junk in (b"not-a-session", b"\x00\xff" * 40, b"1" * 10_000):
            await publisher.publish(revoked_channel(), junk)
        await consumer.deny(session, datetime.now(UTC))
        await eventually(lambda: service.revoked(session))
        still = service.listening
    finally:
        await publisher.aclose()
        await consumer.close()
        await service.close()

    assert still


@dataclass
class Clock:
    """A monotonic clock a test moves by hand."""

    now: float = 100.0

    def __call__(self) -> float:
        return self.now
