"""The service host: replicas of one service start together; settings pick their port."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import APIRouter

from generated.platform import STREAMS
from runtime.errors import ConfigurationError
from runtime.service import ServiceContext, ServiceDefinition, ServiceHost, Settings


async def test_replicas_starting_together_migrate_without_racing(
    nats_url: str, database_url: str, unique_id: str
) -> None:
    name = f"replica{unique_id}"

    async def migrate(connection: Any) -> None:
        for table in ("a", "b", "c"):
            await connection.execute(f'CREATE TABLE IF NOT EXISTS "{name}".{table} (id int)')

    definition = ServiceDefinition(
        name=name, subscriptions=(), handlers=lambda ctx: object(), migrate=migrate
    )
    settings = Settings(service=name, nats_url=nats_url, database_url=database_url)
    hosts = [ServiceHost(definition, settings, STREAMS) for _ in range(4)]
    try:
        apps = await asyncio.gather(*(host.start() for host in hosts))
        assert len(apps) == 4
    finally:
        await asyncio.gather(*(host.stop() for host in hosts))


def test_a_process_port_wins_over_the_service_port() -> None:
    env = {
        "A4CO_NATS_URL": "nats://x",
        "A4CO_DATABASE_URL": "postgresql://x",
        "A4CO_ORDER_PORT": "8001",
        "A4CO_LISTEN_PORT": "8002",
    }
    assert Settings.from_env("order", env).http_port == 8002
    del env["A4CO_LISTEN_PORT"]
    assert Settings.from_env("order", env).http_port == 8001


async def test_what_a_service_registers_with_on_stop_is_closed_when_the_host_stops(
    nats_url: str, database_url: str, unique_id: str
) -> None:
    closed: list[str] = []

    async def close_pool() -> None:
        closed.append("pool")

    async def close_client() -> None:
        closed.append("client")

    def handlers(ctx: ServiceContext) -> object:
        ctx.on_stop(close_pool)
        ctx.on_stop(close_client)
        return object()

    name = f"closing{unique_id}"
    definition = ServiceDefinition(name=name, subscriptions=(), handlers=handlers)
    host = ServiceHost(
        definition, Settings(service=name, nats_url=nats_url, database_url=database_url), STREAMS
    )
    await host.start()
    assert closed == []

    await host.stop()

    assert closed == ["client", "pool"]


async def test_a_service_with_secured_routes_and_no_key_source_fails_at_start(
    nats_url: str, database_url: str, unique_id: str
) -> None:
    name = f"unkeyed{unique_id}"
    definition = ServiceDefinition(
        name=name,
        subscriptions=(),
        handlers=lambda ctx: object(),
        routers=lambda ctx: [APIRouter()],
    )
    host = ServiceHost(
        definition, Settings(service=name, nats_url=nats_url, database_url=database_url), STREAMS
    )
    try:
        with pytest.raises(ConfigurationError, match="A4CO_AUTH_URL or A4CO_JWKS_URL"):
            await host.start()
    finally:
        await host.stop()
