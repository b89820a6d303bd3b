"""The service host: replicas of one service start together; settings pick their port."""

from __future__ import annotations

import asyncio
from typing import Any

from generated.platform import STREAMS
from runtime.service import ServiceDefinition, ServiceHost, Settings


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
