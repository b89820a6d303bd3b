"""A helper server run beside the platform (Prometheus, an exporter): one binary on a free
loopback port, its output in a log of its data folder, ready once an HTTP path answers 200,
stopped with SIGTERM and, if it lingers, SIGKILL."""

from __future__ import annotations

import atexit
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from a4co.infra.base import log_tail, terminate, wait_for
from a4co.infra.ports import LOOPBACK, free_port
from runtime.errors import InfraError

__all__ = ["HttpDaemon"]


class HttpDaemon:
    """Subclasses name themselves (`label`, `log_name`), their readiness path and command."""

    label = "the helper"
    log_name = "helper.log"
    ready_path = "/"

    def __init__(self, binary: str, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self._binary = binary
        self._data_dir = data_dir.resolve()
        self._env = None if env is None else dict(env)
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        if not self._port:
            raise InfraError(f"{self.label} in {self._data_dir} has not been started")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`, for a listen flag."""
        return f"{LOOPBACK}:{self._port}"

    def command(self) -> list[str]:
        """The command line, once the port is chosen; may write files in the data folder."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Start the server; return once `ready_path` answers 200, else stop it and raise."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._port = free_port()
        log = self._data_dir / self.log_name
        with log.open("ab") as out:
            try:
                self._process = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                )
            except OSError as exc:
                raise InfraError(f"could not run {self._binary}: {exc}") from exc
        atexit.register(self.stop)
        ready = wait_for(self._ready, timeout=timeout, interval=0.2)
        if not (ready and self._process is not None and self._process.poll() is None):
            self.stop()
            raise InfraError(
                f"{self.label} ended or was not ready within {timeout:g} s; "
                f"log {log}:\n{log_tail(log)}"
            )

    def _ready(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            return True  # ended: stop waiting, the caller sees it is not running
        try:
            return httpx.get(f"{self.url}{self.ready_path}", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server with SIGTERM (it flushes what it keeps), SIGKILL if it lingers."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        terminate(process, timeout)
