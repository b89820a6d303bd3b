"""The deployed platform's provisioning refuses incomplete settings before it connects."""

from __future__ import annotations

import pytest

from a4co.launcher.provision import database_password_env, provision
from runtime.bus.base import StreamSpec
from runtime.errors import ConfigurationError

STREAMS = (StreamSpec(name="ORDER", subjects=("order.>",)),)
COMPLETE = {
    "A4CO_NATS_URL": "nats://a4co:p1@127.0.0.1:1",
    "A4CO_DATABASE_URL": "postgresql://admin:p2@127.0.0.1:1/a4co",
    "A4CO_DATABASE_PASSWORD_ORDER": "p3",
}


def test_missing_urls_and_role_passwords_are_named_together() -> None:
    env = {"A4CO_DATABASE_PASSWORD_ORDER": "p3"}
    with pytest.raises(ConfigurationError) as caught:
        provision(env, STREAMS, ["order", "payment"])
    message = str(caught.value)
    assert "A4CO_NATS_URL" in message and "A4CO_DATABASE_URL" in message
    assert "A4CO_DATABASE_PASSWORD_PAYMENT" in message
    assert "A4CO_DATABASE_PASSWORD_ORDER" not in message


@pytest.mark.parametrize("replicas", ["2", "0", "three"])
def test_a_stream_replica_count_raft_cannot_use_is_refused(replicas: str) -> None:
    env = {**COMPLETE, "A4CO_STREAM_REPLICAS": replicas}
    with pytest.raises(ConfigurationError, match=f"A4CO_STREAM_REPLICAS={replicas!r}"):
        provision(env, STREAMS, ["order"])


def test_the_role_password_variable_is_named_after_the_service() -> None:
    assert database_password_env("order") == "A4CO_DATABASE_PASSWORD_ORDER"


def test_an_admin_url_without_a_database_is_refused_before_connecting() -> None:
    env = {**COMPLETE, "A4CO_DATABASE_URL": "postgresql://admin:p2@127.0.0.1:1"}
    with pytest.raises(ConfigurationError, match="names no database"):
        provision(env, STREAMS, ["order"])
