"""Every service that exists, hosted in a background event loop over real HTTP.

Schemathesis calls an API synchronously, so the services cannot share the test's event
loop: they run in a thread of their own, each a real `ServiceHost` (PostgreSQL, NATS, its
consumers and relay) behind uvicorn, verifying tokens with the tests' `TEST_KEY`. A service
without an implementation (no `services/<name>/service.py`) or one that fails to start is
recorded, so the test of its contract fails naming why instead of skipping.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import socket
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from generated.platform import STREAMS
from runtime.service import ServiceDefinition, ServiceHost, Settings
from tests.contract.support.loop import BackgroundLoop
from tests.e2e.harness import (
    STOP_TIMEOUT,
    TEST_KEY,
    bound_socket,
    eventually,
    start_uvicorn,
    stop_all,
)

__all__ = [
    "ContractPlatform",
    "ServiceUnavailableError",
    "implemented",
    "load_definition",
    "platform_services",
]

T = TypeVar("T")
SERVICES = Path(__file__).resolve().parents[3] / "services"
START_TIMEOUT = 120.0


class ServiceUnavailableError(AssertionError):
    """A service under test has no implementation or did not start."""


def implemented(name: str) -> bool:
    """Whether `services/<name>/service.py` exists."""
    return (SERVICES / name / "service.py").is_file()


def platform_services(contracts: Path) -> list[str]:
    """Every service with an OpenAPI contract, and every other implemented one."""
    documented = {p.stem for p in (contracts / "openapi").glob("*.yaml")}
    return sorted(documented | {p.parent.name for p in SERVICES.glob("*/service.py")})


def load_definition(name: str, urls: dict[str, str]) -> ServiceDefinition:
    """Call `services.<name>.service.definition`, passing `<other>_url` for each it takes."""
    if not implemented(name):
        raise ServiceUnavailableError(
            f"service {name} has no implementation (no {SERVICES.name}/{name}/service.py)"
        )
    module = importlib.import_module(f"services.{name}.service")
    make: Callable[..., ServiceDefinition] = module.definition
    kwargs = {
        param: urls[param.removesuffix("_url")]
        for param in inspect.signature(make).parameters
        if param.endswith("_url") and param.removesuffix("_url") in urls
    }
    return make(**kwargs)


@dataclass
class _Hosted:
    host: ServiceHost
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str


@dataclass
class ContractPlatform:
    """Services running in a background loop; `url(name)` fails if `name` is not running."""

    nats_url: str
    database_url: str
    redis_url: str | None = None
    hosted: dict[str, _Hosted] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    _loop: BackgroundLoop | None = None

    def start(self, names: list[str]) -> None:
        """Start the loop's thread, then every implemented service among `names`."""
        self._loop = BackgroundLoop("contract-platform")
        self.call(self._start(names), timeout=START_TIMEOUT)

    def stop(self) -> None:
        """Stop every service and the loop."""
        if self._loop is None:
            return
        try:
            self.call(self._stop(), timeout=STOP_TIMEOUT + 10.0)
        finally:
            self._loop.close()
            self._loop = None

    def call(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = 60.0) -> T:
        """Run a coroutine in the platform's loop and wait for its result."""
        assert self._loop is not None, "the platform is not started"
        return self._loop.call(coroutine, timeout=timeout)

    def url(self, name: str) -> str:
        """The base URL of a running service; a clear failure if it is not running."""
        if name in self.hosted:
            return self.hosted[name].url
        raise ServiceUnavailableError(self.problems.get(name, f"service {name} was not started"))

    def app(self, name: str) -> FastAPI:
        """The FastAPI app of a running service."""
        self.url(name)
        app = self.hosted[name].host.app
        assert app is not None
        return app

    def host(self, name: str) -> ServiceHost:
        """The host of a running service."""
        self.url(name)
        return self.hosted[name].host

    async def _start(self, names: list[str]) -> None:
        # Bound now and handed to uvicorn: a port number freed and bound later could be
        # taken in between by another server of the session.
        sockets = {name: bound_socket() for name in names}
        urls = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in sockets.items()}
        await asyncio.gather(*(self._start_one(name, sockets[name], urls) for name in names))
        async with httpx.AsyncClient() as http:
            for hosted in self.hosted.values():
                await eventually(lambda h=hosted: _ready(http, h.url), timeout=30.0)

    async def _start_one(self, name: str, sock: socket.socket, urls: dict[str, str]) -> None:
        """Start one service; record why not instead of raising (its own test reports it)."""
        try:
            definition = load_definition(name, urls)
        except ServiceUnavailableError as exc:
            self.problems[name] = str(exc)
            return
        except Exception:
            self.problems[name] = f"service {name}'s definition() failed:\n{traceback.format_exc()}"
            return
        try:
            self.hosted[name] = await self._host(definition, sock, urls[name])
        except Exception:
            self.problems[name] = f"service {name} did not start:\n{traceback.format_exc()}"

    async def _host(self, definition: ServiceDefinition, sock: socket.socket, url: str) -> _Hosted:
        settings = Settings(
            service=definition.name,
            nats_url=self.nats_url,
            database_url=self.database_url,
            redis_url=self.redis_url,
            http_port=sock.getsockname()[1],
        )
        host = ServiceHost(definition, settings, STREAMS, verifier=TEST_KEY)
        server, task = start_uvicorn(await host.start(), sock)
        return _Hosted(host, server, task, url)

    async def _stop(self) -> None:
        await stop_all({n: (h.server, h.task, h.host) for n, h in self.hosted.items()})
        self.hosted.clear()


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False
