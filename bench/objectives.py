"""The latency objectives the benchmarks measure against, read from the contracts' `x-slo`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from codegen.build import build_catalog
from codegen.loader import Workspace
from codegen.model import Catalog

__all__ = ["latency_target"]

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


@cache
def _catalog() -> Catalog:
    return build_catalog(Workspace(CONTRACTS))


def latency_target(service: str, operation_id: str) -> float:
    """Seconds: the `x-slo` latency of a REST operation; a KeyError names one without it."""
    for endpoint in _catalog().services[service].endpoints:
        if endpoint.operation_id == operation_id and endpoint.slo is not None:
            return endpoint.slo.latency
    raise KeyError(f"{service}.{operation_id} declares no x-slo in {CONTRACTS}")
