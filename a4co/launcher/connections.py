"""Room for every service's connection pools in an embedded PostgreSQL.

Each service process holds up to `CONNECTIONS_PER_SERVICE` connections (its pool of 12 and
its outbox relay's 3, see `runtime.service.host`); PostgreSQL's default `max_connections`
of 100 runs out with the 18 services under load. An embedded server is raised once (the
setting is kept in its data folder, so later starts need no restart); an external one is
left as its operator configured it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import asyncpg

from a4co.infra import EmbeddedPostgres, ServerHandle
from runtime.errors import InfraError

__all__ = ["CONNECTIONS_PER_SERVICE", "make_room"]

CONNECTIONS_PER_SERVICE = 16
RESERVE = 30
"""Connections left for tests, `a4co status` and psql."""


def make_room(server: ServerHandle | None, services: int) -> None:
    """Raise an embedded server's `max_connections` to fit `services` processes, restarting it."""
    if not isinstance(server, EmbeddedPostgres):
        return
    needed = services * CONNECTIONS_PER_SERVICE + RESERVE
    with ThreadPoolExecutor(max_workers=1) as pool:  # works whether or not a loop runs here
        raised = pool.submit(asyncio.run, _raise(server.url, needed)).result()
    if raised:
        server.restart()


async def _raise(url: str, needed: int) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise InfraError(f"could not connect to the embedded PostgreSQL: {exc}") from exc
    try:
        current = int(await connection.fetchval("SHOW max_connections"))
        if current >= needed:
            return False
        await connection.execute(f"ALTER SYSTEM SET max_connections = {int(needed)}")
        return True
    finally:
        await connection.close()
