"""A platform `a4co` started itself: the servers, the services, the static server and the
state file, started with a live display and stopped together."""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.live import Live

from a4co.cli.readiness import ReadinessView
from a4co.cli.state import PlatformState, find_state, remove_state
from a4co.cli.static import SITES, StaticServer
from a4co.infra.exporters import (
    MISSING_NATS_MONITOR,
    MISSING_POSTGRES_EXPORTER,
    NatsExporter,
    PostgresExporter,
    find_postgres_exporter,
    nats_monitor_urls,
)
from a4co.infra.prometheus import EmbeddedPrometheus, find_prometheus
from a4co.launcher import Platform
from a4co.launcher.platform import BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN
from runtime.errors import ConfigurationError, InfraError
from runtime.spans import TRACE_FILE

__all__ = ["RunningPlatform", "service_modules", "with_replicas"]


def service_modules(arguments: Sequence[str]) -> dict[str, str]:
    """`name` or `name=module` arguments -> {name: module}."""
    pairs = (argument.partition("=") for argument in arguments)
    return {name: module or f"services.{name}" for name, _, module in pairs}


def with_replicas(services: dict[str, str], replicas: str) -> dict[str, str]:
    """Add the processes `order=2,inventory=2` asks for: `order_2` runs the module of `order`.

    Replicas share their service's durable consumers, bus identity and database role.
    """
    modules = dict(services)
    for item in filter(None, (part.strip() for part in replicas.split(","))):
        name, _, raw = item.partition("=")
        if name not in services:
            raise ConfigurationError(
                f"--replicas {item!r}: {name!r} is not a service this platform runs"
            )
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(
                f"--replicas {item!r}: the number of processes should be a whole number >= 1"
            )
        for index in range(2, int(raw) + 1):
            modules[f"{name}_{index}"] = services[name]
    return modules


class RunningPlatform:
    """Start with `start()` (or `with`), stop with `stop()`; `state` says where things are."""

    def __init__(
        self,
        services: dict[str, str],
        *,
        data_dir: Path,
        console: Console,
        ready_timeout: float = 60.0,
        nats_cluster: int = 1,
    ) -> None:
        self.platform = Platform(
            services, data_dir=data_dir, ready_timeout=ready_timeout, nats_cluster=nats_cluster
        )
        self._console = console
        self._static: StaticServer | None = None
        self._prometheus: EmbeddedPrometheus | None = None
        self._exporters: dict[str, NatsExporter | PostgresExporter] = {}
        self._notes: list[str] = []
        self.state: PlatformState | None = None

    def start(self) -> PlatformState:
        """Start everything, showing readiness; refuse if a platform already runs here."""
        data_dir = self.platform.data_dir
        try:
            running = find_state(data_dir)
        except ConfigurationError:
            pass
        else:
            raise ConfigurationError(
                f"an A4CO platform already runs from {data_dir} (pid {running.pid}, "
                f"gateway {running.gateway}); stop it first, or pass another --data-dir"
            )
        view = ReadinessView(list(self.platform.modules))
        atexit.register(self.stop)  # should this process die of an error, leave nothing behind
        try:
            with Live(view, console=self._console, refresh_per_second=8):
                self.platform.start(on_servers=view.servers_started, on_ready=view.service_ready)
            if not self._console.is_terminal:
                self._console.line()  # piped, Live leaves its last frame without a line end
            self._prometheus = self._start_prometheus()
            self._static = StaticServer(
                self.platform.urls.get("gateway"),
                prometheus_url=self._prometheus.url if self._prometheus is not None else None,
                trace_file=self.platform.data_dir / TRACE_FILE,
            ).start()
            self.state = self._write_state(self._static.url)
        except BaseException:
            self.stop()
            raise
        return self.state

    def _start_prometheus(self) -> EmbeddedPrometheus | None:
        """Prometheus on every service's /metrics with the generated rules; None if absent."""
        binary = find_prometheus()
        if binary is None:
            return None
        self._start_exporters()
        targets = {**self.platform.urls, **{n: e.url for n, e in self._exporters.items()}}
        prometheus = EmbeddedPrometheus(binary, self.platform.data_dir / "prometheus", targets)
        prometheus.start()
        return prometheus

    def _start_exporters(self) -> None:
        """NATS's and PostgreSQL's figures for Prometheus; a note for each one missing."""
        servers = self.platform.servers
        if servers is None:
            return
        monitors = nats_monitor_urls(servers.nats)
        if servers.nats is not None and not monitors:
            self._notes.append(MISSING_NATS_MONITOR)
        for name, monitor in monitors.items():
            nats = NatsExporter(monitor)
            nats.start()
            self._exporters[name] = nats
        database_url = self.platform.infra.database_url
        if database_url is None:
            return
        binary = find_postgres_exporter()
        if binary is None:
            self._notes.append(MISSING_POSTGRES_EXPORTER)
            return
        postgres = PostgresExporter(
            binary, self.platform.data_dir / "postgres-exporter", database_url
        )
        try:
            postgres.start()
        except InfraError as exc:  # the platform runs on; Prometheus only lacks these figures
            self._notes.append(f"PostgreSQL's figures are missing: {exc}")
            return
        self._exporters["postgres"] = postgres

    def stop(self) -> None:
        """Stop Prometheus, the static server, the services and the servers; remove the state."""
        atexit.unregister(self.stop)
        prometheus, self._prometheus = self._prometheus, None
        if prometheus is not None:
            prometheus.stop()
        exporters, self._exporters = self._exporters, {}
        for exporter in exporters.values():
            exporter.stop()
        static, self._static = self._static, None
        if static is not None:
            static.stop()
        remove_state(self.platform.data_dir, os.getpid())
        self.platform.stop()

    def __enter__(self) -> PlatformState:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_state(self, static_url: str) -> PlatformState:
        platform = self.platform
        admin = platform.env.get(BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN)
        email, _, password = admin.partition(":")
        state = PlatformState(
            pid=os.getpid(),
            data_dir=str(platform.data_dir),
            services=platform.urls,
            nats_url=platform.infra.nats_url,
            database_url=platform.infra.database_url,
            redis_url=platform.infra.redis_url,
            static={name: f"{static_url}/{name}/" for name in SITES},
            prometheus=self._prometheus.url if self._prometheus is not None else None,
            exporters={name: f"{e.url}/metrics" for name, e in self._exporters.items()},
            notes=list(self._notes),
            admin_email=email if "auth" in platform.urls else "",
            admin_password=password if "auth" in platform.urls else "",
        )
        state.write()
        return state
