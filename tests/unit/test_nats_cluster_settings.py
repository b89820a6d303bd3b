"""The settings of a clustered bus: server lists, credentials on each URL, stream replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

from a4co.infra.base import redact
from a4co.infra.nats import ClusterRole
from a4co.infra.nats_cluster import EmbeddedNatsCluster
from a4co.launcher.bus_auth import STREAM_REPLICAS_ENV, BusAuth, stream_replicas
from a4co.launcher.platform import Platform
from runtime.bus.nats_connect import server_urls
from runtime.errors import ConfigurationError

CLUSTER = "nats://127.0.0.1:4222, nats://127.0.0.1:4223,nats://127.0.0.1:4224"


def test_a_comma_separated_url_lists_every_server() -> None:
    assert server_urls(CLUSTER) == [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4223",
        "nats://127.0.0.1:4224",
    ]


def test_a_url_naming_no_server_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names no server"):
        server_urls(" , ")


def test_each_server_of_a_cluster_gets_the_identitys_credentials() -> None:
    bus = BusAuth(permissions={}, passwords={"order": "secret"})
    url = bus.url(CLUSTER, "order")
    assert server_urls(url) == [
        "nats://order:secret@127.0.0.1:4222",
        "nats://order:secret@127.0.0.1:4223",
        "nats://order:secret@127.0.0.1:4224",
    ]


def test_redact_hides_the_password_of_every_server() -> None:
    url = "nats://order:secret@127.0.0.1:4222,nats://order:secret@127.0.0.1:4223"
    assert "secret" not in redact(url)
    assert redact(url).count("***") == 2


@pytest.mark.parametrize(
    ("env", "default", "expected"),
    [
        ({}, 1, 1),
        ({}, 3, 3),
        ({STREAM_REPLICAS_ENV: "3"}, 1, 3),
        ({STREAM_REPLICAS_ENV: "1"}, 3, 1),
    ],
)
def test_stream_replicas_come_from_the_environment_else_the_cluster(
    env: dict[str, str], default: int, expected: int
) -> None:
    assert stream_replicas(env, default=default) == expected


def test_an_even_number_of_stream_replicas_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="A4CO_STREAM_REPLICAS='2'"):
        stream_replicas({STREAM_REPLICAS_ENV: "2"})


def test_a_cluster_that_cannot_outlive_a_node_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="quorum"):
        EmbeddedNatsCluster(tmp_path, size=2)
    with pytest.raises(ConfigurationError, match="nats_cluster=4"):
        Platform(["order"], data_dir=tmp_path, nats_cluster=4)


def test_the_route_password_is_kept_out_of_the_configuration() -> None:
    role = ClusterRole(
        cluster="a4co",
        server_name="n1",
        route_port=6222,
        route_user="route",
        password_variable="A4CO_NATS_ROUTE_PASSWORD",
        route_variables=("A4CO_NATS_ROUTE_2", "A4CO_NATS_ROUTE_3"),
    )
    config = role.render()
    assert 'server_name: "n1"' in config
    assert "password: $A4CO_NATS_ROUTE_PASSWORD" in config
    assert "routes: [$A4CO_NATS_ROUTE_2, $A4CO_NATS_ROUTE_3]" in config
