"""Values for the official NATS Helm chart (nats-io/k8s, chart `nats`): a JetStream cluster
with the contracts' bus users, their passwords read from the platform's Secret."""

from __future__ import annotations

from typing import Any

from codegen.deploy.kubernetes import SECRET, nats_key
from codegen.deploy.spec import DeploySpec
from runtime.bus.permissions import BusPermissions, password_variable

__all__ = ["nats_values"]


def nats_values(spec: DeploySpec, grants: tuple[BusPermissions, ...]) -> dict[str, Any]:
    """The chart's values: cluster, JetStream file store, authorization, resources."""
    users = [
        {
            "user": grant.identity,
            # `<< >>` leaves the variable unquoted in nats.conf, so the server resolves it.
            "password": f"<< ${password_variable(grant.identity)} >>",
            "permissions": {
                "publish": {"allow": list(grant.publish)},
                "subscribe": {"allow": list(grant.subscribe)},
            },
        }
        for grant in grants
    ]
    env = {
        password_variable(grant.identity): {
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": nats_key(grant.identity)}}
        }
        for grant in grants
    }
    resources = {"cpu": f"{spec.nats.cpu_millicores}m", "memory": spec.nats.memory}
    return {
        "config": {
            "cluster": {"enabled": spec.nats.replicas > 1, "replicas": spec.nats.replicas},
            "jetstream": {
                "enabled": True,
                "fileStore": {"enabled": True, "pvc": {"enabled": True, "size": spec.nats.storage}},
            },
            "merge": {"authorization": {"users": users}},
        },
        "container": {
            "env": env,
            "resources": {"requests": resources, "limits": {"memory": spec.nats.memory}},
        },
        # One server per node, so losing a node loses one replica of each stream.
        "podTemplate": {
            "topologySpreadConstraints": {
                "kubernetes.io/hostname": {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}
            }
        },
        # Its default context connects without credentials, which the users above refuse.
        "natsBox": {"enabled": False},
    }
