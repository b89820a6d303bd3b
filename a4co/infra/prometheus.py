"""Embedded Prometheus: Debian's `prometheus` scraping every service's /metrics with the alert
rules generated from the contracts (`generated/prometheus/rules.yaml`).

It is optional: without the binary `a4co up` says how to install it and runs on without.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

import generated
from a4co.infra.daemon import HttpDaemon

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


class EmbeddedPrometheus(HttpDaemon):
    """A prometheus server on a free loopback port, its data and config in `data_dir`."""

    label = "Prometheus"
    log_name = "prometheus.log"
    ready_path = "/-/ready"

    def __init__(self, binary: str, data_dir: Path, targets: Mapping[str, str]) -> None:
        super().__init__(binary, data_dir)
        self._targets = dict(targets)

    def command(self) -> list[str]:
        """Write the configuration; the command that serves it with the UI on our port."""
        config = self._data_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self._targets), sort_keys=False))
        return [
            self._binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._data_dir / 'tsdb'}",
            f"--web.listen-address={self.address}",
        ]
