"""The service host: replicas of one service start together; settings pick their port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from fastapi import APIRouter

from generated.platform import STREAMS
from runtime.errors import ConfigurationError
from runtime.saga.postgres import PostgresSagaStore
from runtime.service import ServiceContext, ServiceDefinition, ServiceHost, Settings
from runtime.service.host import migrate_tables
from services.order.views import OrderViews
from tests.e2e.harness import eventually


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


async def test_a_replica_migrating_while_orders_run_does_not_deadlock_with_them(
    database_url: str, unique_id: str
) -> None:
    schema = f"mig{unique_id}"
    views, sagas = OrderViews(schema), PostgresSagaStore(schema)

    async def migrate(connection: Any) -> None:  # the order service's, in its order
        await views.migrate(connection)
        await sagas.migrate(connection)

    pool = await asyncpg.create_pool(database_url, min_size=3, max_size=3)
    try:
        await pool.execute(f'CREATE SCHEMA "{schema}"')
        async with pool.acquire() as first:
            await migrate_tables(first, schema, migrate)  # the first replica's start
        async with pool.acquire() as order, pool.acquire() as restarted:
            await _order_and_migration_cross(schema, order, restarted, migrate)
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def _order_and_migration_cross(
    schema: str, order: Any, restarted: Any, migrate: Callable[[Any], Awaitable[None]]
) -> None:
    """A running replica's order writes its saga, then its view row, as `place_order` does;
    a restarted replica migrates in between and waits for the sagas table."""
    order_id = uuid.uuid4()
    async with order.transaction():
        await order.execute(
            f'INSERT INTO "{schema}".sagas (saga_id, step, data, version)'
            " VALUES ($1, 'reserving', '{}', 1)",
            str(order_id),
        )
        migrating = asyncio.create_task(migrate_tables(restarted, schema, migrate))

        async def waits_for_sagas() -> bool:
            waiting = await order.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass",
                f'"{schema}".sagas',
            )
            return bool(waiting) or migrating.done()

        await eventually(waits_for_sagas)
        await order.execute(
            f'INSERT INTO "{schema}".orders_view VALUES ($1, $1, $2, $3, 0, $3, NULL, now(),'
            " now(), 1)",
            order_id,
            "pending",
            "{}",
        )
    await asyncio.wait_for(migrating, 60)  # a deadlock would have failed one side
