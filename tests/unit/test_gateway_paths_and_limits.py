"""The gateway's edge rules without I/O: who the client is, which paths go on, body limits."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from runtime.errors import ConfigurationError
from services.gateway.clients import TrustedProxies
from services.gateway.config import GatewayConfig
from services.gateway.paths import UnforwardablePathError, is_operator_path, split_path


def headers(**values: str) -> Headers:
    return Headers({k.replace("_", "-"): v for k, v in values.items()})


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    proxies = TrustedProxies()
    spoofed = headers(x_forwarded_for="203.0.113.9", forwarded="for=198.51.100.1")

    assert proxies.client("127.0.0.1", spoofed) == "127.0.0.1"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    chain = headers(x_forwarded_for="6.6.6.6, 203.0.113.7, 10.1.2.3")

    assert proxies.client("127.0.0.1", chain) == "203.0.113.7"


def test_forwarded_is_read_before_x_forwarded_for_and_ports_are_dropped() -> None:
    proxies = TrustedProxies(["127.0.0.1"])
    both = headers(
        forwarded='for=6.6.6.6;proto=https, for="[2001:db8::7]:4711"',
        x_forwarded_for="198.51.100.1",
    )

    assert proxies.client("127.0.0.1", both) == "2001:db8::7"


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("", "127.0.0.1"),  # a trusted proxy that forwarded for nobody: the proxy itself
        ("203.0.113.7, not-an-ip", "127.0.0.1"),  # garbage from the proxy: no further
        ("10.0.0.1, 10.0.0.2", "10.0.0.1"),  # only proxies: the left-most
    ],
)
def test_odd_chains_never_let_the_client_choose(chain: str, client: str) -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])

    assert proxies.client("127.0.0.1", headers(x_forwarded_for=chain)) == client


def test_a_trusted_proxy_that_is_not_an_address_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match=r"'10\.0\.0\.300'"):
        GatewayConfig.from_env({"A4CO_GATEWAY_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.300"})


@pytest.mark.parametrize(
    "raw",
    [
        "/api/user/users/a%00b",
        "/api/user/users/a%0Ab",
        "/api/user/users/%1b",
        "/api/user/users/%7F",
        "/api/user/users/../metrics",
        "/api/user/users/%2e%2E/metrics",
        "/api/user/./metrics",
        "/api/user/users/a%2Fb",
        "/api/user/users/a%5cb",
        "/api/user/users/a\\b",
        "/api/user/users/%ff",
        "/api/user/users/a b",
        "/api/user/users/\u00e9",
        "/api/%2e%2e/x",
        "/elsewhere/user",
    ],
)
def test_a_path_a_service_could_read_as_another_is_refused(raw: str) -> None:
    with pytest.raises(UnforwardablePathError):
        split_path(raw, "/api")


def test_a_path_is_split_and_kept_as_sent() -> None:
    assert split_path("/api/user/users/%C3%A9%20x", "/api") == ("user", "users/%C3%A9%20x")
    assert split_path("/api/geo", "/api") == ("geo", "")


@pytest.mark.parametrize(
    ("rest", "operator"),
    [
        ("metrics", True),
        ("%6detrics", True),
        ("docs/", True),
        ("openapi.json", True),
        ("users/metrics", False),
        ("healthz", False),
    ],
)
def test_operator_paths_are_recognised_however_encoded(rest: str, operator: bool) -> None:
    assert is_operator_path(rest) is operator


def test_body_limits_take_the_longest_prefix_and_come_from_the_environment() -> None:
    config = GatewayConfig.from_env(
        {
            "A4CO_GATEWAY_MAX_BODY_BYTES": "2048",
            "A4CO_GATEWAY_BODY_LIMITS": "cms=4096, cms/pages=8192",
        }
    )

    assert config.body_limit("user", "users") == 2048
    assert config.body_limit("cms", "other") == 4096
    assert config.body_limit("cms", "pages/guia") == 8192
    assert config.body_limit("cms", "pagesx") == 4096
    assert config.body_limit("auth", "token") == 16 << 10  # the default for auth stays


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"A4CO_GATEWAY_MAX_BODY_BYTES": "1MB"}, "A4CO_GATEWAY_MAX_BODY_BYTES='1MB'"),
        ({"A4CO_GATEWAY_BODY_LIMITS": "cms"}, "'cms' is not"),
    ],
)
def test_a_bad_body_limit_fails_naming_the_value(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        GatewayConfig.from_env(env)
