"""The gateway's configuration: upstreams and limits from the environment."""

from __future__ import annotations

import pytest

from runtime.errors import ConfigurationError
from services.gateway.config import SERVICES, GatewayConfig
from services.gateway.ratelimit import limits_uri


def test_every_service_but_the_gateway_is_routed_from_its_url_variable() -> None:
    env = {"A4CO_USER_URL": "http://127.0.0.1:8001/", "A4CO_GATEWAY_URL": "http://x"}

    config = GatewayConfig.from_env(env)

    assert len(SERVICES) == 17 and "gateway" not in SERVICES
    assert config.upstreams == {"user": "http://127.0.0.1:8001"}


def test_limits_origins_and_timeout_come_from_the_environment() -> None:
    config = GatewayConfig.from_env(
        {
            "A4CO_GATEWAY_RATE_LIMIT": "5/second",
            "A4CO_GATEWAY_TOKEN_RATE_LIMIT": "1/minute",
            "A4CO_GATEWAY_CORS_ORIGINS": "https://a4co.es, https://www.a4co.es",
            "A4CO_GATEWAY_UPSTREAM_TIMEOUT": "2.5",
        }
    )

    assert (config.rate_limit, config.token_rate_limit) == ("5/second", "1/minute")
    assert config.cors_origins == ("https://a4co.es", "https://www.a4co.es")
    assert config.upstream_timeout == 2.5


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"A4CO_GATEWAY_RATE_LIMIT": "lots"}, "rate_limit 'lots'"),
        ({"A4CO_GATEWAY_UPSTREAM_TIMEOUT": "soon"}, "A4CO_GATEWAY_UPSTREAM_TIMEOUT='soon'"),
    ],
)
def test_a_bad_setting_fails_naming_the_value(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        GatewayConfig.from_env(env)


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("unix:///tmp/r.sock", "async+redis+unix:///tmp/r.sock"),
        ("redis://h:6379/0", "async+redis://h:6379/0"),
        ("rediss://h:6380", "async+rediss://h:6380"),
    ],
)
def test_redis_urls_map_to_limits_storage_uris(url: str, uri: str) -> None:
    assert limits_uri(url) == uri


def test_a_redis_url_of_another_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http://h"):
        limits_uri("http://h")
