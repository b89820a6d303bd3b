"""Kubernetes objects of the platform: a Deployment, Service and PodDisruptionBudget per
service, the shared ConfigMap, an example of the credentials Secret and the provisioning Job.
"""

from __future__ import annotations

from typing import Any

from a4co.launcher.db_roles import role_name
from a4co.launcher.provision import STREAM_REPLICAS_ENV, database_password_env
from codegen.deploy.spec import DeploySpec, ServiceSpec
from runtime.bus.permissions import OPERATOR
from runtime.http.app import LIVENESS_PATH, READINESS_PATH

__all__ = ["CONFIG", "SECRET", "config_map", "deployment", "provision_job", "secret_example"]

CONFIG = "a4co-config"
SECRET = "a4co-credentials"
Object = dict[str, Any]


def nats_key(identity: str) -> str:
    """The Secret's key of a bus identity's password: `nats-order`."""
    return f"nats-{identity}"


def database_key(service: str) -> str:
    """The Secret's key of a service role's password: `database-order`."""
    return f"database-{service}"


def _labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "a4co",
    }


def _meta(spec: DeploySpec, name: str, component: str) -> Object:
    return {"name": name, "namespace": spec.namespace, "labels": _labels(name, component)}


def _secret_env(name: str, key: str, *, optional: bool = False) -> Object:
    ref: Object = {"name": SECRET, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def config_map(spec: DeploySpec) -> Object:
    """The settings every service reads (`runtime.service.settings`), addresses included."""
    data = {
        "A4CO_HTTP_HOST": "0.0.0.0",
        "A4CO_HTTP_PORT": str(spec.http_port),
        "A4CO_STREAMS_PROVISIONED": "1",
        "A4CO_NATS_HOST": "nats:4222",
        "A4CO_DATABASE_HOST": spec.database_host,
        "A4CO_DATABASE_NAME": spec.database_name,
        "A4CO_REDIS_URL": spec.redis_url,
        "A4CO_AUTH_URL": f"http://auth:{spec.http_port}",
        "PYTHONUNBUFFERED": "1",
    }
    for service in spec.services:
        data[f"A4CO_{service.name.upper()}_URL"] = f"http://{service.name}:{spec.http_port}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(spec, CONFIG, "config"),
        "data": dict(sorted(data.items())),
    }


def secret_example(spec: DeploySpec) -> Object:
    """The Secret's keys with placeholders: make the real one, never commit it."""
    keys = [nats_key(OPERATOR), "database-admin-url", "bootstrap-admin"]
    keys += [k for s in spec.services for k in (nats_key(s.name), database_key(s.name))]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(spec, SECRET, "credentials"),
        "type": "Opaque",
        "stringData": {key: "REPLACE-ME" for key in sorted(keys)},
    }


def _credentials_env(spec: DeploySpec, service: str) -> list[Object]:
    """The bus and database URLs with the service's own user and password from the Secret.

    Kubernetes expands `$(VAR)` from variables defined before, the ConfigMap's included.
    """
    role = role_name(spec.database_name, service)
    return [
        _secret_env("A4CO_NATS_PASSWORD", nats_key(service)),
        {
            "name": "A4CO_NATS_URL",
            "value": f"nats://{service}:$(A4CO_NATS_PASSWORD)@$(A4CO_NATS_HOST)",
        },
        _secret_env("A4CO_DATABASE_PASSWORD", database_key(service)),
        {
            "name": "A4CO_DATABASE_URL",
            "value": f"postgresql://{role}:$(A4CO_DATABASE_PASSWORD)"
            "@$(A4CO_DATABASE_HOST)/$(A4CO_DATABASE_NAME)",
        },
    ]


def _probe(path: str, *, period: int, failures: int) -> Object:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(spec: DeploySpec, service: ServiceSpec) -> Object:
    env = _credentials_env(spec, service.name)
    if service.name == "auth":
        env.append(_secret_env("A4CO_BOOTSTRAP_ADMIN", "bootstrap-admin", optional=True))
    return {
        "name": service.name,
        "image": spec.image,
        "command": ["python", "-m", f"services.{service.name}"],
        "ports": [{"name": "http", "containerPort": spec.http_port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": CONFIG}}],
        "env": env,
        "resources": {
            "requests": {"cpu": f"{service.cpu_millicores}m", "memory": spec.memory},
            "limits": {"memory": spec.memory},  # no CPU limit: throttling adds latency
        },
        # Migrations run before the app answers: up to a minute to start.
        "startupProbe": _probe(LIVENESS_PATH, period=2, failures=30),
        "readinessProbe": _probe(READINESS_PATH, period=5, failures=2),
        "livenessProbe": _probe(LIVENESS_PATH, period=10, failures=3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def deployment(spec: DeploySpec, service: ServiceSpec) -> list[Object]:
    """The service's Deployment and Service, and a PodDisruptionBudget when replicated."""
    labels = _labels(service.name, "service")
    selector = {"app.kubernetes.io/name": service.name}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [_container(spec, service)],
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "terminationGracePeriodSeconds": 30,
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ],
        },
    }
    objects: list[Object] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(spec, service.name, "service"),
            "spec": {
                "replicas": service.replicas,
                "selector": {"matchLabels": selector},
                "template": pod,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(spec, service.name, "service"),
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": spec.http_port, "targetPort": "http"}],
            },
        },
    ]
    if service.replicas > 1:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(spec, service.name, "service"),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            }
        )
    return objects


def provision_job(spec: DeploySpec) -> Object:
    """The Job that makes the streams (as the operator) and the roles (as the database admin)."""
    env = [
        _secret_env("A4CO_NATS_PASSWORD", nats_key(OPERATOR)),
        {
            "name": "A4CO_NATS_URL",
            "value": f"nats://{OPERATOR}:$(A4CO_NATS_PASSWORD)@$(A4CO_NATS_HOST)",
        },
        _secret_env("A4CO_DATABASE_URL", "database-admin-url"),
        {"name": STREAM_REPLICAS_ENV, "value": str(spec.nats.replicas)},
    ]
    env += [_secret_env(database_password_env(s.name), database_key(s.name)) for s in spec.services]
    container = {
        "name": "provision",
        "image": spec.image,
        "command": ["python", "-m", "a4co.launcher.provision"],
        "envFrom": [{"configMapRef": {"name": CONFIG}}],
        "env": env,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(spec, "a4co-provision", "provision"),
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": {"labels": _labels("a4co-provision", "provision")},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [container],
                },
            },
        },
    }
