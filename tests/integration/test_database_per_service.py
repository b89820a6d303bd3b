"""A database per service: payment and inventory on a PostgreSQL of their own, order and user
on the shared one; the saga still settles every order, and each schema and role lives only
on the server that hosts it.

The shared server is `A4CO_DATABASE_URL`'s when set (a fresh database on it, dropped at the
end), else an embedded one; the second is always embedded.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest

from a4co.infra import EmbeddedPostgres
from a4co.launcher import Platform
from a4co.launcher.db_roles import role_name
from tests.e2e.harness import serve_jwks
from tests.e2e.story import Story

ORDERS = 6
SAGA = ("user", "inventory", "payment", "order")
ON_SECOND = ("inventory", "payment")

pytestmark = pytest.mark.slow


async def test_the_saga_settles_with_payment_and_inventory_on_a_second_server() -> None:
    with tempfile.TemporaryDirectory(prefix="a4co-split-db-") as folder:
        second = EmbeddedPostgres(Path(folder) / "postgres-2")
        await asyncio.to_thread(second.start)
        try:
            async with shared_database() as shared_url, serve_jwks() as jwks_url:
                platform = Platform(
                    SAGA,
                    data_dir=Path(folder) / "data",
                    env={
                        "A4CO_NATS_URL": "",
                        "A4CO_DATABASE_URL": shared_url or "",
                        "A4CO_REDIS_URL": "",
                        "A4CO_JWKS_URL": jwks_url,
                    },
                    databases=dict.fromkeys(ON_SECOND, second.url),
                    ready_timeout=180,
                )
                await asyncio.to_thread(platform.start)
                try:
                    first_url = platform.infra.database_url or ""
                    await _settle_orders(platform, first_url)
                    await _check_placement(platform, first_url, second.url)
                finally:
                    await asyncio.to_thread(platform.stop)
        finally:
            await asyncio.to_thread(second.stop)


async def _settle_orders(platform: Platform, first_url: str) -> None:
    nc = await nats.connect(platform.infra.nats_url or "")
    story = Story(platform.urls, nc, first_url)
    try:
        customer, product = await story.customer(), await story.product(stock=ORDERS)
        placed = await asyncio.gather(*(story.place(customer, product) for _ in range(ORDERS)))
        orders = await asyncio.gather(*(story.settled(o.order_id, timeout=120) for o in placed))
        assert [order.status for order in orders] == ["confirmed"] * ORDERS
        await story.stock_becomes(product, (0, 0))
    finally:
        await story.aclose()
        await nc.close()


async def _check_placement(platform: Platform, first_url: str, second_url: str) -> None:
    first, second = await _schemas_and_roles(first_url), await _schemas_and_roles(second_url)
    for service in SAGA:
        home, away = (second, first) if service in ON_SECOND else (first, second)
        assert service in home.schemas and service not in away.schemas, service
        assert role_name(home.database, service) in home.roles, service
        assert role_name(home.database, service) not in away.roles, service
        # The service connects as its role, to the server of its schema.
        own = urlsplit(platform.database_url(service))
        assert own.username == role_name(home.database, service)
        assert (own.hostname, own.query.split("&")[0]) == _address(home.url)
    # The payment service's event store and outbox wrote on the second server.
    connection = await asyncpg.connect(second_url)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'payment'"
        )
        assert tables > 0
        events = await connection.fetchval("SELECT count(*) FROM payment.events")
        assert events >= ORDERS
    finally:
        await connection.close()


class _Server:
    def __init__(self, url: str, database: str, schemas: set[str], roles: set[str]) -> None:
        self.url, self.database, self.schemas, self.roles = url, database, schemas, roles


async def _schemas_and_roles(url: str) -> _Server:
    connection = await asyncpg.connect(url)
    try:
        database = await connection.fetchval("SELECT current_database()")
        schemas = {r["nspname"] for r in await connection.fetch("SELECT nspname FROM pg_namespace")}
        roles = {r["rolname"] for r in await connection.fetch("SELECT rolname FROM pg_roles")}
    finally:
        await connection.close()
    return _Server(url, database, schemas, roles)


def _address(url: str) -> tuple[str | None, str]:
    parts = urlsplit(url)
    return parts.hostname, parts.query.split("&")[0]


@asynccontextmanager
async def shared_database() -> AsyncIterator[str | None]:
    """A fresh database on `A4CO_DATABASE_URL`'s server (dropped after), or None: embedded."""
    admin_url = os.environ.get("A4CO_DATABASE_URL", "").strip()
    if not admin_url:
        yield None
        return
    name = f"a4co_split_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            for schema in SAGA:
                await admin.execute(f'DROP ROLE IF EXISTS "{role_name(name, schema)}"')
    finally:
        await admin.close()
