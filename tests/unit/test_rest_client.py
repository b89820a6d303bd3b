"""REST client resilience: retries with jitter for idempotent calls, breaker, timeouts."""

from __future__ import annotations

import httpx
import pytest
from purgatory import AsyncCircuitBreakerFactory

from runtime.http import ProblemError, RestClient
from runtime.http.client import DependencyUnavailableError


class Flaky:
    """A transport that answers `failures` 503s, then 200s; it counts calls."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures, self.status, self.calls = failures, status, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.failures:
            return httpx.Response(self.status, json={"title": "down", "status": self.status})
        return httpx.Response(200, json={"ok": True})


def client(handler: object, *, retries: int = 2, threshold: int = 5) -> RestClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://dep")  # type: ignore[arg-type]
    breaker = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=60)
    return RestClient("http://dep", http=http, retries=retries, backoff=0.001, breaker=breaker)


async def test_idempotent_call_is_retried_until_it_succeeds() -> None:
    flaky = Flaky(failures=2)
    response = await client(flaky)._call("GET", "/x", expect=(200,))
    assert response.status_code == 200 and flaky.calls == 3


async def test_post_is_not_retried() -> None:
    flaky = Flaky(failures=1)
    with pytest.raises(DependencyUnavailableError):
        await client(flaky)._call("POST", "/x", expect=(200,))
    assert flaky.calls == 1


async def test_retries_exhausted_become_a_503_problem() -> None:
    flaky = Flaky(failures=10)
    with pytest.raises(DependencyUnavailableError) as caught:
        await client(flaky, retries=2)._call("GET", "/x", expect=(200,))
    assert caught.value.status == 503 and flaky.calls == 3


async def test_open_circuit_fails_fast_without_calling() -> None:
    flaky = Flaky(failures=100)
    rest = client(flaky, retries=0, threshold=3)
    for _ in range(3):
        with pytest.raises(DependencyUnavailableError):
            await rest._call("GET", "/x", expect=(200,))
    calls = flaky.calls
    with pytest.raises(DependencyUnavailableError) as caught:
        await rest._call("GET", "/x", expect=(200,))
    assert flaky.calls == calls == 3
    assert "circuit open" in str(caught.value)


async def test_client_errors_neither_retry_nor_open_the_circuit() -> None:
    flaky = Flaky(failures=100, status=404)
    rest = client(flaky, threshold=2)
    for _ in range(4):
        with pytest.raises(ProblemError) as caught:
            await rest._call("GET", "/x", expect=(200,))
        assert caught.value.status == 404
    assert flaky.calls == 4


async def test_timeout_is_unavailability() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(DependencyUnavailableError) as caught:
        await client(slow, retries=1)._call("GET", "/x", expect=(200,))
    assert "ReadTimeout" in str(caught.value)
