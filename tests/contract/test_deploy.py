"""The generated deployment: valid for the pinned Kubernetes, and faithful to the contracts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from fastapi.testclient import TestClient

from codegen.deploy import read_deploy
from codegen.errors import ContractErrors
from codegen.loader import Workspace
from codegen.pipeline import load_catalog
from generated.bus_permissions import BUS_PERMISSIONS
from generated.platform import SERVICES
from runtime.bus.permissions import password_variable
from runtime.http.app import create_app
from tests.contract.conftest import CONTRACTS, GENERATED, REPO, edit

MANIFESTS = GENERATED / "deploy" / "kubernetes"
NATS_VALUES = GENERATED / "deploy" / "nats-values.yaml"
CHART_VALUES = Path(__file__).resolve().parent / "fixtures" / "nats-chart" / "values.yaml"
PLATFORM = yaml.safe_load((CONTRACTS / "platform.yaml").read_text(encoding="utf-8"))
DEPLOY = PLATFORM["deploy"]
KUBERNETES = DEPLOY["kubernetes"]
"""The one pinned Kubernetes version: `deploy.kubernetes` of contracts/platform.yaml."""


def objects(path: Path) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(path.read_text(encoding="utf-8")) if o]


def service_objects(service: str) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects(MANIFESTS / f"{service}.yaml")}


def test_every_manifest_validates_strictly_against_the_pinned_kubernetes() -> None:
    errors, checked = [], 0
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's file, not an API object
            continue
        for obj in objects(path):
            try:  # a kind without a schema raises too: nothing passes unchecked
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{path.name} {obj['kind']}: {'.'.join(map(str, exc.path))}: {exc}")
            checked += 1
    assert errors == []
    assert checked >= 2 * len(SERVICES) + 3
    broken = objects(MANIFESTS / "order.yaml")[0]
    broken["spec"]["replica"] = 2  # strict: a misspelt field is an error, not ignored
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_every_service_has_a_deployment_running_its_module_and_a_service() -> None:
    runnable = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))
    assert sorted(SERVICES) == runnable
    kustomized = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    for service in SERVICES:
        found = service_objects(service)
        container = found["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert (
            found["Service"]["spec"]["selector"]
            == found["Deployment"]["spec"]["selector"]["matchLabels"]
        )
        assert f"{service}.yaml" in kustomized


def test_probes_ask_endpoints_the_service_app_answers() -> None:
    with TestClient(create_app("probe-check", [])) as client:
        for service in SERVICES:
            container = service_objects(service)["Deployment"]["spec"]["template"]["spec"][
                "containers"
            ][0]
            assert container["ports"] == [
                {"name": "http", "containerPort": DEPLOY["http_port"], "protocol": "TCP"}
            ]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = container[probe]["httpGet"]
                assert get["port"] == "http"
                assert client.get(get["path"]).status_code == 200, (service, probe)
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_replicas_and_cpu_requests_follow_platform_yaml() -> None:
    rate, floor = DEPLOY["orders_per_second"], DEPLOY["min_cpu_millicores"]
    for service in SERVICES:
        own = DEPLOY["services"].get(service, {})
        replicas = own.get("replicas", DEPLOY["replicas"])
        found = service_objects(service)
        deployment = found["Deployment"]["spec"]
        assert deployment["replicas"] == replicas
        expected = max(floor, math.ceil(own.get("cpu_ms_per_order", 0) * rate / replicas))
        requests = deployment["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert requests == {"cpu": f"{expected}m", "memory": DEPLOY["memory"]}
        assert ("PodDisruptionBudget" in found) == (replicas > 1)


def test_every_variable_a_container_expands_is_defined_before_it() -> None:
    config = objects(MANIFESTS / "config.yaml")[0]["data"]
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for obj in objects(path):
            if obj["kind"] not in ("Deployment", "Job"):
                continue
            for container in obj["spec"]["template"]["spec"]["containers"]:
                defined = set(config)
                for var in container["env"]:
                    for used in re.findall(r"\$\((\w+)\)", var.get("value", "")):
                        assert used in defined, (path.name, var["name"], used)
                    defined.add(var["name"])


def test_every_secret_key_the_pods_and_nats_read_is_in_the_example_secret() -> None:
    example = set(objects(MANIFESTS / "credentials.example.yaml")[0]["stringData"])
    refs = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for obj in objects(path):
            if obj["kind"] in ("Deployment", "Job"):
                for container in obj["spec"]["template"]["spec"]["containers"]:
                    refs += [
                        v["valueFrom"]["secretKeyRef"] for v in container["env"] if "valueFrom" in v
                    ]
    values = yaml.safe_load(NATS_VALUES.read_text())
    refs += [v["valueFrom"]["secretKeyRef"] for v in values["container"]["env"].values()]
    assert {r["name"] for r in refs} == {"a4co-credentials"}
    assert {r["key"] for r in refs} == example


def test_nats_users_are_the_generated_bus_permissions() -> None:
    values = yaml.safe_load(NATS_VALUES.read_text())
    users = values["config"]["merge"]["authorization"]["users"]
    assert [u["user"] for u in users] == [g.identity for g in BUS_PERMISSIONS]
    for user, grant in zip(users, BUS_PERMISSIONS, strict=True):
        assert user["permissions"]["publish"]["allow"] == list(grant.publish)
        assert user["permissions"]["subscribe"]["allow"] == list(grant.subscribe)
        assert user["password"] == f"<< ${password_variable(grant.identity)} >>"
        assert password_variable(grant.identity) in values["container"]["env"]
    assert values["config"]["cluster"] == {"enabled": True, "replicas": DEPLOY["nats"]["replicas"]}
    assert values["config"]["jetstream"]["enabled"] is True


def unknown_keys(ours: Any, chart: Any, at: str = "") -> list[str]:
    """Keys of `ours` the chart's values.yaml lacks; below a free-form map (`{}`), all pass."""
    if not isinstance(ours, dict) or not isinstance(chart, dict) or chart == {}:
        return []
    found = []
    for key, value in ours.items():
        if key not in chart:
            found.append(f"{at}.{key}")
        else:
            found += unknown_keys(value, chart[key], f"{at}.{key}")
    return found


def test_nats_values_use_only_keys_the_chart_knows() -> None:
    chart = yaml.safe_load(CHART_VALUES.read_text(encoding="utf-8"))
    values = yaml.safe_load(NATS_VALUES.read_text())
    assert unknown_keys(values, chart) == []
    assert unknown_keys({"config": {"clustr": {}}}, chart) == [".config.clustr"]
    assert f"tag: {DEPLOY['nats']['chart']}-alpine" in CHART_VALUES.read_text()


def test_a_deploy_section_naming_an_unknown_service_is_refused(
    mini_copy: Callable[[], Path],
) -> None:
    root = mini_copy()
    edit(
        root / "platform.yaml",
        "    shop: {replicas: 2, cpu_ms_per_order: 20}\n",
        "    shop: {replicas: 2, cpu_ms_per_order: 20}\n    shipping: {replicas: 2}\n",
    )
    workspace, catalog = load_catalog(root)
    with pytest.raises(ContractErrors, match="/deploy/services/shipping"):
        read_deploy(workspace, catalog)


def test_a_catalog_without_a_deploy_section_generates_no_deployment(
    mini_copy: Callable[[], Path],
) -> None:
    root = mini_copy()
    platform = root / "platform.yaml"
    text = platform.read_text(encoding="utf-8")
    platform.write_text(text[: text.index("deploy:")], encoding="utf-8")
    _, catalog = load_catalog(root)
    assert read_deploy(Workspace(root), catalog) is None
