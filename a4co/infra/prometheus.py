"""Embedded Prometheus: Debian's `prometheus` scraping every service's /metrics with the alert
rules generated from the contracts (`generated/prometheus/rules.yaml`).

It is optional: without the binary `a4co up` says how to install it and runs on without.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

import generated
from a4co.infra.base import log_tail, wait_for
from a4co.infra.ports import LOOPBACK, free_port
from runtime.errors import InfraError

__all__ = ["MISSING_PROMETHEUS", "RULES", "EmbeddedPrometheus", "find_prometheus", "scrape_config"]

RULES = Path(generated.__file__).resolve().parent / "prometheus" / "rules.yaml"
MISSING_PROMETHEUS = (
    "prometheus is not installed, so nothing collects metrics or evaluates the alert rules: "
    "run `sudo make install-prometheus` once"
)
SCRAPE_INTERVAL = "5s"


def find_prometheus() -> str | None:
    """The `prometheus` binary on PATH, or None."""
    return shutil.which("prometheus")


def scrape_config(targets: Mapping[str, str], rules: Path = RULES) -> dict[str, Any]:
    """Prometheus' configuration: each process's /metrics, labelled `process`, and the rules.

    The label is not `service`: the series carry their own `service` label already.
    """
    static = [
        {"targets": [urlsplit(url).netloc], "labels": {"process": name}}
        for name, url in sorted(targets.items())
    ]
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "a4co", "static_configs": static}],
    }


class EmbeddedPrometheus:
    """A prometheus server on a free loopback port, its data and config in `data_dir`."""

    def __init__(self, binary: str, data_dir: Path, targets: Mapping[str, str]) -> None:
        self._binary = binary
        self._data_dir = data_dir.resolve()
        self._targets = dict(targets)
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The web UI and API's base URL."""
        if not self._port:
            raise InfraError(f"Prometheus in {self._data_dir} has not been started")
        return f"http://{LOOPBACK}:{self._port}"

    def start(self, timeout: float = 30.0) -> None:
        """Write the configuration, start the server, return once it says it is ready."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        config = self._data_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self._targets), sort_keys=False))
        self._port = free_port()
        log = self._data_dir / "prometheus.log"
        command = [
            self._binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._data_dir / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{self._port}",
        ]
        with log.open("ab") as out:
            try:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            except OSError as exc:
                raise InfraError(f"could not run {self._binary}: {exc}") from exc
        atexit.register(self.stop)
        ready = wait_for(self._ready, timeout=timeout, interval=0.2)
        if not (ready and self._process is not None and self._process.poll() is None):
            self.stop()
            raise InfraError(
                f"Prometheus ended or was not ready within {timeout:g} s; "
                f"log {log}:\n{log_tail(log)}"
            )

    def _ready(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            return True  # ended: stop waiting, the caller sees it is not running
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server with SIGTERM (it flushes its data), SIGKILL if it lingers."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
