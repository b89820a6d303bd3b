"""The `deploy` section of `platform.yaml`, read and checked into a `DeploySpec`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from codegen.errors import ContractError, ContractErrors, Finding
from codegen.loader import Workspace, join_pointer
from codegen.model import Catalog

__all__ = ["DeploySpec", "NatsSpec", "ServiceSpec", "read_deploy"]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service's Deployment: replicas and the CPU each replica asks for."""

    name: str
    replicas: int
    cpu_ms_per_order: float
    cpu_millicores: int
    """cpu_ms_per_order x orders_per_second / replicas, never under the minimum."""


@dataclass(frozen=True, slots=True)
class NatsSpec:
    """The NATS Helm release: chart version, servers, JetStream storage, resources."""

    chart: str
    replicas: int
    storage: str
    cpu_millicores: int
    memory: str


@dataclass(frozen=True, slots=True)
class DeploySpec:
    """Everything the manifests and the Helm values are made from."""

    kubernetes: str
    namespace: str
    image: str
    http_port: int
    orders_per_second: float
    memory: str
    database_host: str
    database_name: str
    redis_url: str
    services: tuple[ServiceSpec, ...]
    nats: NatsSpec


def read_deploy(workspace: Workspace, catalog: Catalog) -> DeploySpec | None:
    """The section as a spec, or None when `platform.yaml` has none; errors name the key."""
    file = workspace.rel(workspace.root / "platform.yaml")
    raw = workspace.document(file).get("deploy")
    if raw is None:
        return None
    unknown = [
        Finding(file, join_pointer("/deploy/services", name), f"'{name}' is not a service")
        for name in raw.get("services", {})
        if name not in catalog.services
    ]
    if unknown:
        raise ContractErrors(unknown)
    rate = _number(raw, "orders_per_second", file, "/deploy")
    floor = int(_number(raw, "min_cpu_millicores", file, "/deploy"))
    default_replicas = int(_number(raw, "replicas", file, "/deploy"))
    services = []
    for name in sorted(catalog.services):
        own = raw.get("services", {}).get(name, {})
        place = join_pointer("/deploy/services", name)
        replicas = int(own.get("replicas", default_replicas))
        cpu_ms = float(own.get("cpu_ms_per_order", 0.0))
        if replicas < 1 or cpu_ms < 0:
            raise ContractError(Finding(file, place, "replicas should be >= 1 and CPU >= 0"))
        millicores = max(floor, math.ceil(cpu_ms * rate / replicas))
        services.append(ServiceSpec(name, replicas, cpu_ms, millicores))
    nats = raw["nats"]
    nats_cpu = _number(nats, "cpu_ms_per_order", file, "/deploy/nats")
    nats_replicas = int(_number(nats, "replicas", file, "/deploy/nats"))
    if nats_replicas not in (1, 3, 5):
        raise ContractError(Finding(file, "/deploy/nats/replicas", "should be 1, 3 or 5"))
    return DeploySpec(
        kubernetes=str(raw["kubernetes"]),
        namespace=str(raw["namespace"]),
        image=str(raw["image"]),
        http_port=int(raw["http_port"]),
        orders_per_second=rate,
        memory=str(raw["memory"]),
        database_host=str(raw["database"]["host"]),
        database_name=str(raw["database"]["name"]),
        redis_url=str(raw["redis_url"]),
        services=tuple(services),
        nats=NatsSpec(
            chart=str(nats["chart"]),
            replicas=nats_replicas,
            storage=str(nats["storage"]),
            # Every server stores every message of an R3 stream, as leader or follower.
            cpu_millicores=max(floor, math.ceil(nats_cpu * rate)),
            memory=str(nats["memory"]),
        ),
    )


def _number(raw: dict[str, Any], key: str, file: str, where: str) -> float:
    value = raw.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ContractError(
            Finding(file, join_pointer(where, key), f"{key} should be a number >= 0")
        )
    return float(value)
