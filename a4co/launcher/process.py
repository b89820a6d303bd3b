"""One service process: `python -m <module>` with its output in a log file, and its readiness."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from a4co.infra.base import log_tail
from a4co.infra.ports import LOOPBACK
from a4co.launcher.errors import LaunchError

__all__ = ["ServiceProcess", "ServiceSpec"]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What to run for one service, where it listens, and where its output goes."""

    name: str
    module: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://{LOOPBACK}:{self.port}"


class ServiceProcess:
    """A service's child process; it runs in its own session, so signals reach it only from us."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self._process: subprocess.Popen[bytes] | None = None
        self._last_answer = "not asked yet"

    @property
    def pid(self) -> int | None:
        """The process id while it runs, else None."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal)."""
        return None if self._process is None else self._process.poll()

    def spawn(self, env: Mapping[str, str], *, append: bool) -> None:
        """Start `python -m <module>`; a fresh log unless `append` (a restart keeps the old)."""
        spec = self.spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_path.open("ab" if append else "wb") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} launcher: python -m {spec.module} on {spec.url}\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", spec.module],
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LaunchError(
                    f"could not run {sys.executable} -m {spec.module} for the {spec.name} "
                    f"service: {exc}",
                    service=spec.name,
                ) from exc
        self._last_answer = "not asked yet"

    def is_ready(self, client: httpx.Client) -> bool:
        """Tell whether GET /readyz answers 200; raise LaunchError if the process has ended."""
        code = self.returncode
        if code is not None:
            raise LaunchError(
                f"the {self.spec.name} service (python -m {self.spec.module}) "
                f"{describe_exit(code)} before it was ready; log {self.spec.log_path}",
                service=self.spec.name,
                log_tail=self.log_tail(),
            )
        try:
            response = client.get(f"{self.spec.url}/readyz")
        except httpx.HTTPError as exc:
            self._last_answer = type(exc).__name__
            return False
        self._last_answer = f"HTTP {response.status_code}"
        return response.status_code == 200

    def not_ready_error(self, timeout: float) -> LaunchError:
        """The error for a service that ran but did not become ready in time."""
        return LaunchError(
            f"the {self.spec.name} service did not answer GET {self.spec.url}/readyz with 200 "
            f"within {timeout:g} s (last: {self._last_answer}); log {self.spec.log_path}",
            service=self.spec.name,
            log_tail=self.log_tail(),
        )

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting."""
        self._signal(signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the process to end; tell whether it did."""
        if self._process is None:
            return True
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """Kill the process and anything it started (SIGKILL), and reap it."""
        self._signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait()

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the service's log, indented for error messages."""
        return log_tail(self.spec.log_path, lines)

    def _signal(self, signum: signal.Signals) -> None:
        # The child leads its own process group: signal the group, so helpers it spawned go too.
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # it ended between poll() and killpg()
            os.killpg(self._process.pid, signum)


def describe_exit(code: int) -> str:
    """`exited with code 3`, or `was killed by SIGKILL` for a negative code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"
