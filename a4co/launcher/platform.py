"""The platform as processes: its servers, then one `python -m services.<name>` per service.

Every service gets a free port and one shared environment: the servers' URLs, every
service's `A4CO_<SERVICE>_PORT` and `A4CO_<SERVICE>_URL`. Output goes to `<data_dir>/logs/`.
Each service's `A4CO_DATABASE_URL` is its own role's (`a4co.launcher.db_roles`), on the
shared PostgreSQL or on the one its `A4CO_<SERVICE>_DATABASE_URL` names.
With `nats_cluster=3` the bus is three clustered nats-servers and every stream is R3.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import httpx

from a4co.infra import (
    DATABASE_URL_ENV,
    DEFAULT_DATA_DIR,
    NATS_URL_ENV,
    REDIS_URL_ENV,
    Infra,
    InfraStack,
    free_port,
    start_infra,
)
from a4co.infra.nats_cluster import EmbeddedNatsCluster
from a4co.launcher.bus_auth import BusAuth, provision_streams, stream_replicas
from a4co.launcher.connections import make_room
from a4co.launcher.db_roles import ServiceRole, provision_roles
from a4co.launcher.errors import LaunchError
from a4co.launcher.process import ServiceProcess, ServiceSpec
from runtime.bus.permissions import OPERATOR
from runtime.errors import ConfigurationError
from runtime.service.settings import (
    LISTEN_PORT_ENV,
    STREAMS_PROVISIONED_ENV,
    database_url_env,
    own_database_url,
)
from runtime.spans import TRACE_FILE, TRACE_FILE_ENV

__all__ = [
    "BOOTSTRAP_ADMIN_ENV",
    "DEFAULT_SERVICES",
    "DEV_BOOTSTRAP_ADMIN",
    "Platform",
    "port_env",
    "url_env",
]

BOOTSTRAP_ADMIN_ENV = "A4CO_BOOTSTRAP_ADMIN"
DEV_BOOTSTRAP_ADMIN = "admin@a4co.dev:a4co-admin-dev"
"""The auth service's bootstrap administrator (`email:password`) unless the env sets one."""

DEFAULT_SERVICES = tuple(
    sorted(p.parent.name for p in Path(__file__).parents[2].glob("services/*/__main__.py"))
)
"""Every service with a `services/<name>/__main__.py`: what `make run` starts."""

_SERVICE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_READY_POLL = 0.05

logger = logging.getLogger(__name__)


def port_env(service: str) -> str:
    """`A4CO_ORDER_PORT` for `order`: the variable a service reads its port from."""
    return f"A4CO_{service.upper()}_PORT"


def url_env(service: str) -> str:
    """`A4CO_ORDER_URL` for `order`: the variable other services find it by."""
    return f"A4CO_{service.upper()}_URL"


class Platform:
    """Start the servers and the services, wait until all are ready, stop them all.

    `services` names the services (module `<module_prefix>.<name>`) or maps each name to
    its module. `env` is laid over `os.environ` for the servers' settings and the children.
    `nats_cluster` is how many embedded nats-servers to cluster (1, 3 or 5); streams then
    get as many replicas unless `A4CO_STREAM_REPLICAS` says otherwise. `databases` maps a
    service to the admin URL of a PostgreSQL of its own (as `A4CO_<SERVICE>_DATABASE_URL`
    does): its schema and role are made there, the others stay on the shared server.
    """

    def __init__(
        self,
        services: Iterable[str] | Mapping[str, str] = DEFAULT_SERVICES,
        *,
        data_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        module_prefix: str = "services",
        ready_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        nats_cluster: int = 1,
        databases: Mapping[str, str] | None = None,
    ) -> None:
        if nats_cluster not in (1, 3, 5):
            raise ConfigurationError(f"nats_cluster={nats_cluster!r} should be 1, 3 or 5")
        self._nats_cluster = nats_cluster
        self._modules = _service_modules(services, module_prefix)
        self._data_dir = Path(DEFAULT_DATA_DIR if data_dir is None else data_dir).resolve()
        self._overrides = dict(env or {})
        for name, url in (databases or {}).items():
            schema = _identity(self._modules[self._known(name)]) or name
            self._overrides[database_url_env(schema)] = url
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._infra: InfraStack | None = None
        self._bus: BusAuth | None = None
        self._roles: dict[str, ServiceRole] = {}
        self._admin_urls: dict[str, str] = {}
        """Schema -> the admin URL of the server it lives on."""
        self._env: dict[str, str] = {}
        self._processes: dict[str, ServiceProcess] = {}

    @property
    def data_dir(self) -> Path:
        """The folder of the embedded servers' data and of `logs/`."""
        return self._data_dir

    @property
    def modules(self) -> dict[str, str]:
        """Service name -> the module run as `python -m <module>`."""
        return dict(self._modules)

    @property
    def urls(self) -> dict[str, str]:
        """Service name -> base URL (`http://127.0.0.1:<port>`); empty until started."""
        return {name: process.spec.url for name, process in self._processes.items()}

    @property
    def infra(self) -> Infra:
        """The servers' URLs; all None until started."""
        if self._infra is None:
            return Infra()
        urls = self._infra.urls
        if self._bus is None or urls.nats_url is None:
            return urls
        return replace(urls, nats_url=self._bus.url(urls.nats_url, OPERATOR))

    @property
    def servers(self) -> InfraStack | None:
        """The servers' handles (embedded or external) while started, else None."""
        return self._infra

    def bus_url(self, identity: str) -> str:
        """The NATS URL of one bus identity (a service, or the operator `a4co`) once started."""
        if self._infra is None or self._bus is None or self._infra.urls.nats_url is None:
            raise LaunchError(f"the platform in {self._data_dir} is not started")
        return self._bus.url(self._infra.urls.nats_url, identity)

    def database_url(self, name: str) -> str:
        """The database URL a service connects with, as its own role (see `db_roles`)."""
        schema = _identity(self._modules[self._known(name)]) or name
        role, admin_url = self._roles.get(schema), self._admin_urls.get(schema)
        if role is None or admin_url is None:
            raise LaunchError(f"the platform in {self._data_dir} is not started", service=name)
        return role.url(admin_url)

    @property
    def env(self) -> dict[str, str]:
        """The environment every service process gets; empty until started."""
        return dict(self._env)

    def log_path(self, name: str) -> Path:
        """Where the service's output goes."""
        return self._data_dir / "logs" / f"{self._known(name)}.log"

    def pid(self, name: str) -> int | None:
        """The service's process id while it runs, else None."""
        process = self._processes.get(self._known(name))
        return None if process is None else process.pid

    def exited(self) -> dict[str, int]:
        """Service name -> exit code, for each started service whose process has ended."""
        codes = {name: process.returncode for name, process in self._processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def start(
        self,
        *,
        on_servers: Callable[[Infra], None] | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> Platform:
        """Start the servers and every service; return once every /readyz answers 200.

        `on_servers` is called once the servers run, `on_ready` with each service's name as
        it becomes ready (progress displays). On any failure (or Ctrl-C) everything already
        started is stopped before raising.
        """
        if self._infra is not None:
            raise LaunchError(f"the platform in {self._data_dir} is already started")
        base = {**os.environ, **self._overrides}
        try:
            self._start_servers(base)
            assert self._infra is not None
            make_room(self._infra.postgres, len(self._modules))
            self._provision_roles(base)
            if on_servers is not None:
                on_servers(self.infra)
            self._processes = {
                name: ServiceProcess(ServiceSpec(name, module, port, self.log_path(name)))
                for (name, module), port in zip(
                    self._modules.items(), _free_ports(len(self._modules)), strict=True
                )
            }
            self._env = self._child_env(base, self.infra)
            for process in self._processes.values():
                process.spawn(self._env_of(process), append=False)
            self._wait_ready(list(self._processes.values()), on_ready)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the services (SIGTERM, then SIGKILL after the grace period), then the servers.

        External servers are left running; a second call does nothing.
        """
        running = [process for process in self._processes.values() if process.running]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + self._stop_timeout
        for process in running:
            if not process.wait(max(0.0, deadline - time.monotonic())):
                logger.warning(
                    "the %s service ignored SIGTERM for %g s and was killed",
                    process.spec.name,
                    self._stop_timeout,
                )
                process.kill()
        infra, self._infra = self._infra, None
        if infra is not None:
            infra.stop()

    def kill(self, name: str) -> None:
        """Kill one service at once (SIGKILL), as a crash would; nothing if it has ended."""
        self._process(name).kill()

    def start_service(self, name: str) -> None:
        """Start a killed service again, on the same port and environment; wait until ready."""
        process = self._process(name)
        if process.running:
            raise LaunchError(f"the {name} service is already running (pid {process.pid})")
        process.spawn(self._env_of(process), append=True)
        try:
            self._wait_ready([process])
        except BaseException:
            process.kill()
            raise

    @property
    def nats_cluster(self) -> EmbeddedNatsCluster | None:
        """The embedded NATS cluster while it runs (fault tests kill its nodes), else None."""
        nats = None if self._infra is None else self._infra.nats
        return nats if isinstance(nats, EmbeddedNatsCluster) else None

    def restart_nats(self) -> None:
        """Restart the embedded NATS server on the same port and store (fault tests)."""
        if self._infra is None or self._infra.nats is None:
            raise LaunchError(f"the platform in {self._data_dir} is not started")
        self._infra.nats.restart()  # an external server refuses with an InfraError

    def restart_postgres(self) -> None:
        """Restart the embedded PostgreSQL on the same data folder and socket (fault tests).

        A fast shutdown: every service's connections are cut, committed data is kept.
        """
        if self._infra is None or self._infra.postgres is None:
            raise LaunchError(f"the platform in {self._data_dir} is not started")
        self._infra.postgres.restart()  # an external server refuses with an InfraError

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_servers(self, base: Mapping[str, str]) -> None:
        """Start the servers, the embedded NATS with the contracts' users, and the streams."""
        identities = [_identity(module) or name for name, module in self._modules.items()]
        if base.get(NATS_URL_ENV):
            if self._nats_cluster != 1:
                raise ConfigurationError(
                    f"a cluster of {self._nats_cluster} embedded nats-servers was asked for, but "
                    f"{NATS_URL_ENV} names an external NATS: unset it, or leave out the cluster"
                )
            self._bus = BusAuth.external(base, identities)
            infra = start_infra(self._data_dir, env=base)
        else:
            self._bus = BusAuth.embedded(self._data_dir, identities)
            infra = start_infra(
                self._data_dir,
                env=base,
                nats_authorization=self._bus.authorization,
                nats_secrets=self._bus.secrets,
                nats_cluster=self._nats_cluster,
            )
        self._infra = infra
        if infra.nats is not None:  # the services may not create streams: the operator does
            replicas = stream_replicas(base, default=self._nats_cluster)
            provision_streams(self.infra.nats_url or "", replicas=replicas)

    def _provision_roles(self, base: Mapping[str, str]) -> None:
        """A database role per service schema, made on the server that hosts the schema.

        That is the server of `A4CO_<SERVICE>_DATABASE_URL` when set, else the shared one.
        """
        shared = None if self._infra is None else self._infra.urls.database_url
        if shared is None:
            return
        schemas = {_identity(module) or name for name, module in self._modules.items()}
        self._admin_urls = {schema: own_database_url(schema, base) or shared for schema in schemas}
        servers: dict[str, set[str]] = {}
        for schema, admin_url in self._admin_urls.items():
            servers.setdefault(admin_url, set()).add(schema)
        for admin_url, hosted in servers.items():
            roles = provision_roles(admin_url, hosted, self._data_dir)
            self._roles.update({role.schema: role for role in roles})

    def _child_env(self, base: Mapping[str, str], infra: Infra) -> dict[str, str]:
        env = dict(base)
        servers = (
            (NATS_URL_ENV, infra.nats_url),
            (DATABASE_URL_ENV, infra.database_url),
            (REDIS_URL_ENV, infra.redis_url),
        )
        env.update({var: url for var, url in servers if url is not None})
        for schema in self._admin_urls:  # admin URLs stay with the launcher, as the shared one
            env.pop(database_url_env(schema), None)
        for name, process in self._processes.items():
            env[port_env(name)] = str(process.spec.port)
            env[url_env(name)] = process.spec.url
        env["PYTHONUNBUFFERED"] = "1"  # so a log tail shows what a failing service last said
        # A development administrator, so someone can log in to verify artisans.
        env.setdefault(BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN)
        env.setdefault(TRACE_FILE_ENV, str(self._data_dir / TRACE_FILE))  # for `a4co trace`
        return env

    def _env_of(self, process: ServiceProcess) -> dict[str, str]:
        """The shared environment plus the process's own port, bus user and database role.

        `A4CO_LISTEN_PORT` lets two processes of one service (replicas, named for example
        `order` and `order_2`) listen on ports of their own.
        """
        env = {**self._env, LISTEN_PORT_ENV: str(process.spec.port)}
        nats_url = None if self._infra is None else self._infra.urls.nats_url
        if self._bus is not None and nats_url is not None:
            # Each service on the bus as itself, with only the rights its contract gives.
            identity = _identity(process.spec.module) or process.spec.name
            env[NATS_URL_ENV] = self._bus.url(nats_url, identity)
            env[STREAMS_PROVISIONED_ENV] = "1"
        if self._roles:  # its own role's URL; the admin's stays with the launcher
            own_url = self.database_url(process.spec.name)
            env[DATABASE_URL_ENV] = own_url
            env[database_url_env(_identity(process.spec.module) or process.spec.name)] = own_url
        return env

    def _wait_ready(
        self, pending: list[ServiceProcess], on_ready: Callable[[str], None] | None = None
    ) -> None:
        deadline = time.monotonic() + self._ready_timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                waiting = [process for process in pending if not process.is_ready(client)]
                if on_ready is not None:
                    for process in pending:
                        if process not in waiting:
                            on_ready(process.spec.name)
                pending = waiting
                if not pending:
                    return
                if time.monotonic() >= deadline:
                    raise pending[0].not_ready_error(self._ready_timeout)
                time.sleep(_READY_POLL)

    def _known(self, name: str) -> str:
        if name not in self._modules:
            known = ", ".join(self._modules) or "none"
            raise LaunchError(f"no service named {name!r} in this platform (it runs: {known})")
        return name

    def _process(self, name: str) -> ServiceProcess:
        process = self._processes.get(self._known(name))
        if process is None or self._infra is None:
            raise LaunchError(f"the platform in {self._data_dir} is not started", service=name)
        return process


def _service_modules(
    services: Iterable[str] | Mapping[str, str], module_prefix: str
) -> dict[str, str]:
    if isinstance(services, str):
        services = (services,)
    modules = (
        dict(services)
        if isinstance(services, Mapping)
        else {name: f"{module_prefix}.{name}" for name in services}
    )
    for name, module in modules.items():
        if not _SERVICE_NAME.fullmatch(name):
            raise ConfigurationError(
                f"service name {name!r} should be lower-case letters, digits and underscores"
            )
        if not _MODULE_NAME.fullmatch(module):
            raise ConfigurationError(f"module {module!r} of the {name} service is not a module")
    return modules


def _identity(module: str) -> str | None:
    """`order` for `services.order`: a replica is on the bus as its service."""
    prefix, _, last = module.rpartition(".")
    return last if prefix == "services" else None


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports (the kernel may hand out a just-released port again)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports
