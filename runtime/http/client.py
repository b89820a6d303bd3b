"""Base of the generated REST clients: timeouts, retries with jitter, a circuit breaker.

Idempotent calls (GET, PUT, DELETE) are retried on transport errors and 502/503/504 with
exponential backoff and full jitter (tenacity); every attempt passes a circuit breaker
(purgatory) that opens after repeated unavailability and fails fast until its TTL ends.
A dependency that stays unavailable becomes `DependencyUnavailableError` (a 503 problem).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from runtime.http.problem import Problem, ProblemError

__all__ = ["DependencyUnavailableError", "RestClient"]

_RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class DependencyUnavailableError(ProblemError):
    """The called service timed out, failed, or its circuit is open."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(503, "Service Unavailable", f"{service}: {detail}")


class _Unavailable(Exception):
    """An attempt that the breaker counts and the retry policy retries."""


class RestClient:
    """Calls one service's REST API; non-success answers raise `ProblemError`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.05,
        breaker: AsyncCircuitBreakerFactory | None = None,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=dict(headers or {})
        )
        self._circuit = f"{type(self).__name__}:{base_url}"
        self._breaker = breaker or AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=10)
        self._retries = retries
        self._backoff = backoff
        self._authorization: dict[str, str] = {}

    def with_token(self, token: str) -> Self:
        """This client calling as the bearer of `token` (same pool and breaker)."""
        clone = copy.copy(self)
        clone._authorization = {"Authorization": f"Bearer {token}"} if token else {}
        return clone

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        body: BaseModel | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request (retrying when safe) and return it when its status is expected."""
        content = body.model_dump_json(exclude_none=True) if body is not None else None
        request = self._http.build_request(
            method,
            path,
            content=content,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers={
                **self._authorization,
                **({"content-type": "application/json"} if content is not None else {}),
            },
        )
        attempts = self._retries + 1 if method in _IDEMPOTENT else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=self._backoff, max=2.0),
            retry=retry_if_exception_type(_Unavailable),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._attempt(request)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise DependencyUnavailableError(self._circuit, str(cause)) from cause
        except OpenedState as exc:
            raise DependencyUnavailableError(self._circuit, "circuit open") from exc
        if response.status_code not in expect:
            raise _problem_of(response)
        return response

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        breaker = await self._breaker.get_breaker(self._circuit)
        async with breaker:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code in _RETRY_STATUSES:
                raise _Unavailable(f"answered {response.status_code}")
        return response


def _problem_of(response: httpx.Response) -> ProblemError:
    """Turn an unexpected answer into a `ProblemError`, keeping its problem body."""
    try:
        problem = Problem.model_validate_json(response.content)
    except ValueError:
        problem = Problem(
            title=response.reason_phrase or "Unexpected response",
            status=response.status_code,
            detail=response.text[:200] or None,
        )
    error = ProblemError(problem.status, problem.title, problem.detail, type=problem.type)
    error.problem = problem
    return error
