"""Run services in-process on the session's real NATS and PostgreSQL, each over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import nats
import uvicorn
from nats.aio.client import Client

from generated.platform import STREAMS
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http.auth import SigningKey, TokenVerifier
from runtime.service import ServiceDefinition, ServiceHost, Settings

T = TypeVar("T")
WAIT = 20.0

TEST_KEY = SigningKey.generate("a4co-test")
"""The key that signs the tests' tokens; in-process services verify with it by default."""


def bound_socket() -> socket.socket:
    """A listening-ready TCP socket on a free loopback port (uvicorn serves on it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_uvicorn(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """uvicorn serving `app` on the bound `sock`, as a task of the running loop.

    Quiet, without lifespan (the test starts the service host itself), and given 3 s to
    shut down: an open event stream would otherwise hold it until the host stops.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=sock.getsockname()[1],
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    return server, asyncio.create_task(server.serve(sockets=[sock]))


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on `sock` (a newly bound one if None) while the block runs.

    Yields the URL. The socket is bound before uvicorn starts and handed to it, so no other
    server of the session can take its port in between; a server that fails to start
    raises here instead of leaving the caller waiting.
    """
    sock = sock if sock is not None else bound_socket()
    port = sock.getsockname()[1]
    server, task = start_uvicorn(app, sock)
    try:
        while not server.started:
            if task.done():
                await task
                raise AssertionError(f"uvicorn on port {port} stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


STOP_TIMEOUT = 60.0
"""Seconds all of a platform's services get to stop, together."""


async def stop_all(
    servers: dict[str, tuple[uvicorn.Server, asyncio.Task[None], ServiceHost]],
) -> None:
    """Stop every server and then its host, all services at once; name those that hang.

    A host waits for its in-flight handlers (up to their ack_wait), so stopping one after
    another would add those waits up.
    """
    for server, _, _ in servers.values():
        server.should_exit = True

    async def stop(task: asyncio.Task[None], host: ServiceHost) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await host.stop()

    stopping = {
        asyncio.create_task(stop(task, host)): name for name, (_, task, host) in servers.items()
    }
    done, hanging = await asyncio.wait(stopping, timeout=STOP_TIMEOUT)
    for task in hanging:
        task.cancel()
    if hanging:
        names = sorted(stopping[t] for t in hanging)
        raise AssertionError(f"services still stopping after {STOP_TIMEOUT:g} s: {names}")
    for task in done:
        task.result()


def free_port() -> int:
    """A TCP port free on the loopback interface now; nothing holds it afterwards.

    For addresses where nobody must listen, or for servers that are not uvicorn. A server
    the test starts should get `bound_socket()` (or `serve_asgi`) instead.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningService:
    """One hosted service and its uvicorn server."""

    host: ServiceHost
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str


@dataclass
class InProcessPlatform:
    """Several services in this event loop, with a NATS connection for the test itself."""

    nats_url: str
    database_url: str
    services: dict[str, RunningService] = field(default_factory=dict)
    nc: Client | None = None
    verifier: TokenVerifier | None = TEST_KEY
    """How every service verifies tokens; None: each its own way (see `jwks_from`)."""
    redis_url: str | None = None
    """Given to every service's Settings (the gateway, auth and notification need Redis)."""
    jwks_from: str | None = None
    """A started service (auth) whose JWKS the others verify tokens with, when `verifier`
    is None: each service then gets `Settings.jwks_url` on it, as the launcher does."""

    async def start(
        self, definitions: dict[str, Callable[[dict[str, str]], ServiceDefinition]]
    ) -> None:
        """Start each service; each factory gets every service's URL first."""
        # Bound now and handed to uvicorn: a port number freed and bound later could be
        # taken in between by another server of the session.
        sockets = {name: bound_socket() for name in definitions}
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        jwks_url = (
            f"{urls[self.jwks_from]}/.well-known/jwks.json" if self.jwks_from is not None else None
        )
        self.nc = await nats.connect(self.nats_url)
        for name, make in definitions.items():
            settings = Settings(
                service=name,
                nats_url=self.nats_url,
                database_url=self.database_url,
                redis_url=self.redis_url,
                http_port=ports[name],
                jwks_url=jwks_url,
            )
            host = ServiceHost(make(urls), settings, STREAMS, verifier=self.verifier)
            server, task = start_uvicorn(await host.start(), sockets[name])
            self.services[name] = RunningService(host, server, task, urls[name])
        async with httpx.AsyncClient() as http:
            for running in self.services.values():
                await eventually(lambda r=running: _ready(http, r.url))

    async def stop(self) -> None:
        """Stop every server and host."""
        await stop_all({n: (r.server, r.task, r.host) for n, r in self.services.items()})
        if self.nc is not None:
            await self.nc.drain()

    @property
    def bus(self) -> NatsEventSink:
        """A sink through which the test publishes as another service would."""
        assert self.nc is not None
        return NatsEventSink(self.nc)

    def url(self, name: str) -> str:
        """A running service's base URL."""
        return self.services[name].url


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def eventually(
    check: Callable[[], Any], *, timeout: float = WAIT, interval: float = 0.05
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {last!r})")
        await asyncio.sleep(interval)


def embedded_env(jwks_url: str, **extra: str) -> dict[str, str]:
    """The environment of a launched platform that starts servers of its own, whatever the
    caller's `A4CO_*_URL` say, and trusts the tokens of `jwks_url`; plus `extra`."""
    return {
        "A4CO_NATS_URL": "",
        "A4CO_DATABASE_URL": "",
        "A4CO_REDIS_URL": "",
        "A4CO_STREAM_REPLICAS": "",  # the platform's own servers decide: 1, or 3 on a cluster
        "A4CO_JWKS_URL": jwks_url,
        **extra,
    }


@contextlib.asynccontextmanager
async def serve_jwks(key: SigningKey = TEST_KEY) -> AsyncIterator[str]:
    """Publish `key` as a JWKS over HTTP (for services run as processes); yield its URL."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = json.dumps({"keys": [key.jwk()]}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async with serve_asgi(app) as url:
        yield f"{url}/.well-known/jwks.json"


@contextlib.asynccontextmanager
async def platform(
    nats_url: str,
    database_url: str,
    definitions: dict[str, Callable[[dict[str, str]], ServiceDefinition]],
) -> AsyncIterator[InProcessPlatform]:
    """An in-process platform, stopped when the block ends."""
    running = InProcessPlatform(nats_url, database_url)
    try:
        await running.start(definitions)
        yield running
    finally:
        await running.stop()
