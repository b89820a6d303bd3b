"""A service's own database URL overrides the shared one, so its schema can move server."""

from __future__ import annotations

import pytest

from a4co.launcher import Platform
from a4co.launcher.errors import LaunchError
from runtime.errors import ConfigurationError
from runtime.service.settings import Settings, database_url_env, service_database_url

SHARED = "postgresql://a4co@db-main:5432/a4co"
OWN = "postgresql://a4co@db-payment:5432/a4co"
NATS = {"A4CO_NATS_URL": "nats://127.0.0.1:4222"}


def test_the_service_own_url_beats_the_shared_one() -> None:
    env = {**NATS, "A4CO_DATABASE_URL": SHARED, "A4CO_PAYMENT_DATABASE_URL": OWN}
    assert Settings.from_env("payment", env).database_url == OWN
    assert Settings.from_env("order", env).database_url == SHARED


def test_the_shared_url_serves_a_service_without_its_own() -> None:
    assert service_database_url("order", {"A4CO_DATABASE_URL": SHARED}) == SHARED
    assert service_database_url("order", {"A4CO_DATABASE_URL": "  "}) is None


def test_an_own_url_alone_is_enough() -> None:
    assert (
        Settings.from_env("payment", {**NATS, "A4CO_PAYMENT_DATABASE_URL": OWN}).database_url == OWN
    )


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("order", "A4CO_ORDER_DATABASE_URL"),
        ("shipping_zones", "A4CO_SHIPPING_ZONES_DATABASE_URL"),
        ("shipping-zones", "A4CO_SHIPPING_ZONES_DATABASE_URL"),
    ],
)
def test_names_with_hyphens_and_underscores_map_to_one_variable(
    service: str, variable: str
) -> None:
    assert database_url_env(service) == variable
    assert service_database_url(service, {variable: OWN, "A4CO_DATABASE_URL": SHARED}) == OWN


@pytest.mark.parametrize(
    "bad",
    ["mysql://db/a4co", "db-payment:5432/a4co", "postgresql://db:port/a4co", "postgresql:///a4co"],
)
def test_a_malformed_override_fails_naming_its_variable(bad: str) -> None:
    env = {**NATS, "A4CO_DATABASE_URL": SHARED, "A4CO_PAYMENT_DATABASE_URL": bad}
    with pytest.raises(ConfigurationError, match="A4CO_PAYMENT_DATABASE_URL"):
        Settings.from_env("payment", env)


def test_a_socket_url_is_accepted() -> None:
    url = "postgresql://postgres@/a4co?host=/tmp/pg"
    assert service_database_url("payment", {"A4CO_PAYMENT_DATABASE_URL": url}) == url


def test_no_url_at_all_names_both_variables() -> None:
    with pytest.raises(ConfigurationError, match="A4CO_ORDER_DATABASE_URL or A4CO_DATABASE_URL"):
        Settings.from_env("order", NATS)


def test_a_platform_refuses_a_database_for_a_service_it_does_not_run() -> None:
    with pytest.raises(LaunchError, match="no service named 'paymnet'"):
        Platform(["order", "payment"], databases={"paymnet": OWN})
