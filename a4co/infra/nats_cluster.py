"""An embedded JetStream cluster: N nats-server processes on 127.0.0.1 joined by routes.

Each node keeps its store in `<data_dir>/n<i>`, carries the same client `authorization`
and authenticates its routes as the user `route`, whose password is made for this cluster
object and reaches the servers through their environment only. The cluster's `url` lists
every node's client URL, comma-separated: what clients are given to fail over between.
"""

from __future__ import annotations

import atexit
import json
import secrets
from collections.abc import Mapping
from pathlib import Path

from a4co.infra.nats import ClusterRole, EmbeddedNats
from a4co.infra.ports import LOOPBACK, free_port
from runtime.errors import ConfigurationError, InfraError

__all__ = ["CLUSTER_NAME", "ROUTE_USER", "EmbeddedNatsCluster"]

CLUSTER_NAME = "a4co"
ROUTE_USER = "route"
_ROUTE_PASSWORD = "A4CO_NATS_ROUTE_PASSWORD"


class EmbeddedNatsCluster:
    """`size` nats-servers clustered with routes, JetStream on each, data folders apart."""

    def __init__(
        self,
        data_dir: Path,
        *,
        size: int = 3,
        authorization: str | None = None,
        secrets_env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """`authorization` and `secrets_env` are as for `EmbeddedNats`, the same on every node."""
        if size < 3 or size % 2 == 0:
            raise ConfigurationError(
                f"a NATS cluster of {size} nodes cannot keep a JetStream quorum through the "
                "loss of a node: use 3 or 5 (or 1, a single server)"
            )
        self._data_dir = data_dir.resolve()
        self._start_timeout = start_timeout
        route_ports = [free_port() for _ in range(size)]
        password = f"r{secrets.token_hex(24)}"
        env = dict(secrets_env or {})
        env[_ROUTE_PASSWORD] = json.dumps(password)
        for index, port in enumerate(route_ports):
            url = f"nats-route://{ROUTE_USER}:{password}@{LOOPBACK}:{port}"
            env[_route_variable(index)] = json.dumps(url)
        self._nodes = [
            EmbeddedNats(
                self._data_dir / f"n{index + 1}",
                authorization=authorization,
                secrets=env,
                start_timeout=start_timeout,
                cluster=ClusterRole(
                    cluster=CLUSTER_NAME,
                    server_name=f"n{index + 1}",
                    route_port=port,
                    route_user=ROUTE_USER,
                    password_variable=_ROUTE_PASSWORD,
                    route_variables=tuple(
                        _route_variable(peer) for peer in range(size) if peer != index
                    ),
                ),
            )
            for index, port in enumerate(route_ports)
        ]

    @property
    def name(self) -> str:
        """Always `nats`."""
        return "nats"

    @property
    def external(self) -> bool:
        """Always False: this process runs the servers."""
        return False

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (`A4CO_NATS_URL` accepts the list)."""
        return ",".join(node.url for node in self._nodes)

    @property
    def nodes(self) -> tuple[EmbeddedNats, ...]:
        """The nodes, `n1` first: kill, stop or start one of them to test a failure."""
        return tuple(self._nodes)

    @property
    def data_dir(self) -> Path:
        """The folder holding each node's folder (`n1`, `n2`, ...)."""
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """The first running node's process id, else None."""
        return next((node.pid for node in self._nodes if node.pid is not None), None)

    def node(self, server_name: str) -> EmbeddedNats:
        """The node named `server_name` (`n1`...), as JetStream names a stream's leader."""
        for index, node in enumerate(self._nodes):
            if f"n{index + 1}" == server_name:
                return node
        raise InfraError(f"no node {server_name!r} in the NATS cluster in {self._data_dir}")

    def start(self) -> None:
        """Start every node that is not running; return once each serves JetStream.

        The nodes start together: a node's JetStream is ready only once a quorum meets.
        """
        atexit.register(self.stop)
        try:
            for node in self._nodes:
                node.spawn()
            for node in self._nodes:
                node.wait_until_ready()
        except InfraError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node gracefully, even when one of them fails to stop."""
        atexit.unregister(self.stop)
        failures: list[InfraError] = []
        for node in reversed(self._nodes):
            try:
                node.stop()
            except InfraError as exc:
                failures.append(exc)
        if failures:
            raise InfraError("; ".join(str(failure) for failure in failures)) from failures[0]

    def restart(self) -> None:
        """Restart the nodes one at a time, so the cluster keeps its quorum throughout."""
        for node in self._nodes:
            node.restart()


def _route_variable(index: int) -> str:
    return f"A4CO_NATS_ROUTE_{index + 1}"
