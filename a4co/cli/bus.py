"""Connections the inspection commands open: NATS (JetStream) and PostgreSQL, one-shot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.errors import Error as NatsError

from a4co.infra.base import redact
from runtime.bus.nats_connect import connect
from runtime.errors import ConfigurationError, InfraError

__all__ = ["nats_connection", "postgres_connection"]


@asynccontextmanager
async def nats_connection(url: str | None) -> AsyncIterator[Client]:
    """A NATS connection that fails fast with a sentence when no server of `url` answers.

    nats-py with `max_reconnect_attempts=0` retries an unreachable server forever: a
    command tries each server of the list a few times instead, and then gives up.
    """
    if not url:
        raise ConfigurationError("no NATS URL: run `a4co up` first, or set A4CO_NATS_URL")
    try:
        nc = await connect(
            url,
            connect_timeout=3,
            max_reconnect_attempts=2,
            reconnect_time_wait=0.2,
            name="a4co-cli",
            error_cb=_attempt_failed,
        )
    except (OSError, NatsError, TimeoutError) as exc:
        raise InfraError(f"could not connect to NATS at {redact(url)}: {exc}") from exc
    try:
        yield nc
    finally:
        await nc.close()


async def _attempt_failed(exc: Exception) -> None:
    """Keep nats-py from printing a traceback per failed attempt; the command says the last."""


@asynccontextmanager
async def postgres_connection(url: str | None) -> AsyncIterator[Any]:
    """An asyncpg connection that fails with a sentence when the server does not answer."""
    if not url:
        raise ConfigurationError("no database URL: run `a4co up` first, or set A4CO_DATABASE_URL")
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise InfraError(f"could not connect to PostgreSQL: {exc}") from exc
    try:
        yield connection
    finally:
        await connection.close()
