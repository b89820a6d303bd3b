"""The deployment generated from `platform.yaml`'s `deploy` section (README "Deploying").

`generated/deploy/kubernetes/` holds the manifests, `generated/deploy/nats-values.yaml` the
NATS Helm chart's values; both are YAML dumped from dictionaries, keys in a fixed order.
"""

from __future__ import annotations

from typing import Any

import yaml

from codegen.deploy.helm import nats_values
from codegen.deploy.kubernetes import config_map, deployment, provision_job, secret_example
from codegen.deploy.spec import DeploySpec, read_deploy
from codegen.loader import Workspace
from codegen.model import Catalog
from codegen.permissions import bus_permissions

__all__ = ["DeploySpec", "read_deploy", "render_deploy"]


class _Dumper(yaml.SafeDumper):
    """Writes a value shared by two objects twice: anchors and aliases read badly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(header: str, *objects: Any) -> str:
    docs = [
        yaml.dump(o, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
        for o in objects
    ]
    return f"{header}\n" + "---\n".join(docs)


def render_deploy(header: str, workspace: Workspace, catalog: Catalog) -> dict[str, str]:
    """Every deployment file by path in the output folder; none without a `deploy` section."""
    spec = read_deploy(workspace, catalog)
    if spec is None:
        return {}
    k8s = "deploy/kubernetes"
    note = f"{header}\n# Kubernetes {spec.kubernetes} (the version CI validates these against)."
    files = {
        f"{k8s}/config.yaml": _yaml(note, config_map(spec)),
        f"{k8s}/provision.yaml": _yaml(note, provision_job(spec)),
        f"{k8s}/credentials.example.yaml": _yaml(
            f"{note}\n# The keys of the Secret the pods read: make yours, never commit it.",
            secret_example(spec),
        ),
    }
    for service in spec.services:
        files[f"{k8s}/{service.name}.yaml"] = _yaml(note, *deployment(spec, service))
    resources = sorted(p.rsplit("/", 1)[1] for p in files if not p.endswith(".example.yaml"))
    files[f"{k8s}/kustomization.yaml"] = _yaml(
        header,
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": spec.namespace,
            "resources": resources,
        },
    )
    files["deploy/nats-values.yaml"] = _yaml(
        f"{header}\n# Values for the NATS Helm chart `nats` {spec.nats.chart} (nats-io/k8s).",
        nats_values(spec, bus_permissions(catalog)),
    )
    return files
