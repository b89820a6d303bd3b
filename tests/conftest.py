"""Session fixtures: real NATS, PostgreSQL and Redis, embedded unless A4CO_*_URL names one.

Each server starts on first use and once per session, so a test that needs only NATS does
not wait for PostgreSQL. Embedded servers keep their data in the session's temp dir.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from a4co.infra import InfraStack, ServerHandle, start_nats, start_postgres, start_redis
from a4co.launcher import DEFAULT_SERVICES
from a4co.launcher.connections import make_room
from runtime.bus.base import Channel, MessageContext
from runtime.eventstore.postgres import PostgresEventStore


@pytest.fixture(scope="session")
def infra_dir() -> Iterator[Path]:
    """The session's data folder for embedded servers (one sub-folder per server).

    A folder of its own, not under pytest's: another pytest starting meanwhile resets
    /tmp/pytest-of-<user> to mode 0700, which locks out embedded PostgreSQL's system user.
    """
    folder = Path(tempfile.mkdtemp(prefix="a4co-infra-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(infra_dir: Path) -> Iterator[ServerHandle]:
    """NATS with JetStream: A4CO_NATS_URL's server, or an embedded one stopped at the end."""
    server = start_nats(infra_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(infra_dir: Path) -> Iterator[ServerHandle]:
    """PostgreSQL: A4CO_DATABASE_URL's server, or an embedded one stopped at the end.

    An embedded one gets room for two platforms' worth of connection pools at once (the
    contract tests and the e2e story each run all 18 services), before anything connects.
    """
    server = start_postgres(infra_dir)
    make_room(server, 2 * len(DEFAULT_SERVICES))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(infra_dir: Path) -> Iterator[ServerHandle]:
    """Redis: A4CO_REDIS_URL's server, or an embedded one stopped at the end."""
    server = start_redis(infra_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def infra(
    nats_server: ServerHandle, postgres_server: ServerHandle, redis_server: ServerHandle
) -> InfraStack:
    """All three servers; `infra.urls` gives their URLs. Each server fixture stops its own."""
    return InfraStack(nats=nats_server, postgres=postgres_server, redis=redis_server)


@pytest.fixture(scope="session")
def nats_url(nats_server: ServerHandle) -> str:
    """URL of the session's NATS server."""
    return nats_server.url


@pytest.fixture(scope="session")
def database_url(postgres_server: ServerHandle) -> str:
    """asyncpg URL of the session's PostgreSQL database."""
    return postgres_server.url


@pytest.fixture(scope="session")
def redis_url(redis_server: ServerHandle) -> str:
    """URL of the session's Redis server."""
    return redis_server.url


@pytest.fixture
def unique_id() -> str:
    """A short id unique to the test, to name its streams, tables and keys apart."""
    return uuid.uuid4().hex[:12]


def context_of(
    channel: Channel[Any], subject: str, message_id: str | None = None
) -> MessageContext:
    """The envelope a consumer hands a handler for a message on `channel` about `subject`:
    its message id (a new one unless given) is also its correlation id."""
    ce_id = message_id or str(uuid.uuid4())
    return MessageContext(
        id=ce_id,
        type=channel.ce_type,
        source=f"/services/{channel.owner}",
        time=datetime.now(UTC),
        subject=subject,
        correlation_id=ce_id,
    )


@dataclass(frozen=True)
class Schema:
    """A fresh PostgreSQL schema of the test's own: its name, a pool and its event store."""

    name: str
    pool: asyncpg.Pool
    store: PostgresEventStore

    async def statements(self) -> list[str]:
        """From now on, the first word of every statement any pooled connection sends to
        this schema, and of every BEGIN, COMMIT and ROLLBACK (asyncpg's own queries of
        types left out). Clear the list between the steps a test counts."""
        sent: list[str] = []

        def log(query: Any) -> None:
            if self.name in query.query or query.query.startswith(_CONTROL):
                sent.append(query.query.split(None, 1)[0].rstrip(";"))

        connections = [await self.pool.acquire() for _ in range(self.pool.get_max_size())]
        for connection in connections:
            connection.add_query_logger(log)  # kept by the connection behind the proxy
            await self.pool.release(connection)
        return sent


_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
async def schema(database_url: str, unique_id: str) -> AsyncIterator[Schema]:
    """An event store in a schema named after the test's unique id, dropped afterwards;
    the test migrates its own tables into `schema.name`."""
    name = f"t_{unique_id}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        store = PostgresEventStore(pool, name)
        await store.migrate()
        yield Schema(name, pool, store)
        await pool.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await pool.close()
