"""`python -m a4co.launcher.provision`: a deployed platform's streams and database roles.

What `a4co up` does before it starts the services, for servers it did not start (the
Kubernetes Job of `generated/deploy/`): as the bus operator (`A4CO_NATS_URL` with the
`a4co` user) it creates or updates every stream with `A4CO_STREAM_REPLICAS` replicas (3 on
a JetStream cluster); as the database admin (`A4CO_DATABASE_URL`) it makes each service's
role (`a4co.launcher.db_roles`) with the password its Deployment connects with,
`A4CO_DATABASE_PASSWORD_<SERVICE>`. Running it again changes nothing that is already right.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nats.errors import Error as NatsError

from a4co.launcher.bus_auth import STREAM_REPLICAS_ENV, ensure_streams_in_time, stream_replicas
from a4co.launcher.db_roles import ROLES_FILE, provision_roles, role_name
from runtime.bus.base import StreamSpec
from runtime.bus.nats_connect import connect
from runtime.errors import ConfigurationError, InfraError

__all__ = ["STREAM_REPLICAS_ENV", "database_password_env", "main", "provision"]

logger = logging.getLogger(__name__)


def database_password_env(service: str) -> str:
    """`A4CO_DATABASE_PASSWORD_ORDER`: the variable holding the order role's password."""
    return f"A4CO_DATABASE_PASSWORD_{service.upper()}"


def provision(
    env: Mapping[str, str], streams: Sequence[StreamSpec], services: Sequence[str]
) -> None:
    """Make the streams and the services' roles from the settings in `env`."""
    missing = [k for k in ("A4CO_NATS_URL", "A4CO_DATABASE_URL") if not env.get(k)]
    missing += [database_password_env(s) for s in services if not env.get(database_password_env(s))]
    if missing:
        raise ConfigurationError(f"provisioning needs {', '.join(missing)}")
    replicas = stream_replicas(env)
    admin_url = env["A4CO_DATABASE_URL"]
    database = unquote(urlsplit(admin_url).path.lstrip("/"))
    if not database:
        raise ConfigurationError("A4CO_DATABASE_URL names no database (…/a4co at its end)")
    asyncio.run(_streams(env["A4CO_NATS_URL"], [replace(s, replicas=replicas) for s in streams]))
    passwords = {role_name(database, s): env[database_password_env(s)] for s in services}
    with tempfile.TemporaryDirectory() as folder:  # the roles' passwords, as db_roles keeps them
        Path(folder, ROLES_FILE).write_text(json.dumps(passwords), encoding="utf-8")
        roles = provision_roles(admin_url, services, Path(folder))
    logger.info("%d streams at R%s and %d roles are in place", len(streams), replicas, len(roles))


async def _streams(url: str, streams: list[StreamSpec]) -> None:
    try:
        nc = await connect(url, connect_timeout=10, max_reconnect_attempts=3, name="a4co")
    except (OSError, NatsError, TimeoutError) as exc:
        raise InfraError(f"could not connect to NATS as the operator: {exc}") from exc
    try:
        await ensure_streams_in_time(nc, tuple(streams))
    finally:
        await nc.close()


def main() -> None:
    """Provision from the environment, with the contracts' streams and services."""
    platform = importlib.import_module("generated.platform")  # as bus_auth: runtime names it
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    provision(os.environ, platform.STREAMS, platform.SERVICES)


if __name__ == "__main__":
    main()
