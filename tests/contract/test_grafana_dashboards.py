"""The Grafana dashboards generated from the contracts: each is the dashboard model Grafana
imports, every query parses with promtool, and every series it reads is one the runtime
exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from codegen.build import build_catalog
from codegen.loader import Workspace
from runtime.http.app import create_app
from runtime.observability import PlatformMetrics
from tests.contract.conftest import CONTRACTS, GENERATED

DASHBOARDS = sorted((GENERATED / "grafana").glob("*.json"))
MISSING_PROMTOOL = "promtool is not installed: run `sudo make install-prometheus`"

_GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
_DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
_TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "legendFormat": {"type": "string"},
        "datasource": _DATASOURCE,
    },
}
_STEP = {
    "type": "object",
    "required": ["color", "value"],
    "properties": {"color": {"type": "string"}, "value": {"type": ["number", "null"]}},
}
_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["row", "timeseries"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": _GRID,
        "datasource": _DATASOURCE,
        "targets": {"type": "array", "minItems": 1, "items": _TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {
                "defaults": {
                    "type": "object",
                    "properties": {
                        "unit": {"type": "string"},
                        "thresholds": {
                            "type": "object",
                            "required": ["mode", "steps"],
                            "properties": {
                                "mode": {"enum": ["absolute", "percentage"]},
                                "steps": {"type": "array", "minItems": 1, "items": _STEP},
                            },
                        },
                    },
                },
                "overrides": {"type": "array"},
            },
        },
    },
    "if": {"properties": {"type": {"const": "timeseries"}}},
    "then": {"required": ["targets", "datasource", "fieldConfig"]},
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "version": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["name", "type", "query"],
                        "properties": {
                            "name": {"const": "datasource"},
                            "type": {"const": "datasource"},
                            "query": {"const": "prometheus"},
                        },
                    },
                }
            },
        },
        "panels": {"type": "array", "minItems": 1, "items": _PANEL},
    },
}
_SERIES = re.compile(r"\b(a4co_[a-z_]+|http_requests_total)\b")


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS}


def _expressions() -> list[str]:
    return [
        t["expr"] for d in _dashboards().values() for p in d["panels"] for t in p.get("targets", [])
    ]


def _exported_series() -> set[str]:
    """The sample names the runtime's registries expose (histograms as _bucket/_count/_sum)."""
    registry = CollectorRegistry()
    PlatformMetrics("any", registry)
    create_app("any", [], registry=registry)
    suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}
    return {
        f"{family.name}{suffix}"
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_there_is_a_dashboard_per_service() -> None:
    services = build_catalog(Workspace(CONTRACTS)).services
    assert [p.stem for p in DASHBOARDS] == sorted(services)


def test_every_dashboard_is_the_grafana_model_it_claims() -> None:
    validator = jsonschema.Draft202012Validator(DASHBOARD_SCHEMA)
    for name, board in _dashboards().items():
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(board)
        ]
        assert not errors, f"{name}: {errors[:3]}"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"


def test_the_schema_refuses_a_panel_without_a_query() -> None:
    board = _dashboards()["order"]
    broken = next(p for p in board["panels"] if p["type"] == "timeseries")
    del broken["targets"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(board, DASHBOARD_SCHEMA)


def test_every_latency_objective_is_drawn_as_a_threshold() -> None:
    board = _dashboards()["order"]
    place = next(p for p in board["panels"] if p["title"].startswith("placeOrder "))
    steps = place["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 0.5 and place["title"] == "placeOrder (p99 < 500 ms)"
    assert place["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"


def test_only_the_saga_host_has_saga_panels() -> None:
    for name, board in _dashboards().items():
        titles = {p["title"] for p in board["panels"]}
        assert ("Sagas by step" in titles) == (name == "order"), name


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(MISSING_PROMTOOL)
    rules = [{"record": f"a4co:dashboard_{i}", "expr": e} for i, e in enumerate(_expressions())]
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_every_series_read_is_one_the_runtime_exports() -> None:
    exported = _exported_series()
    read = {name for expr in _expressions() for name in _SERIES.findall(expr)}
    assert read - exported == set()
    assert {"a4co_http_request_seconds_bucket", "a4co_sagas", "a4co_outbox_backlog"} <= read
