"""The demo's HTTP client: every call goes through the gateway (`/api/<service>/<path>`).

Answers 429 (rate limits) are waited out as `Retry-After` says. A service restarting (no
connection, or 502/503/504 from the gateway) is waited for, with backoff, up to
`unavailable_wait` seconds per call. Other unexpected answers become a `DemoError` naming
the call and the problem's detail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

import httpx

from runtime.errors import PlatformError

__all__ = ["DemoError", "Gateway", "Token"]

MAX_RATE_LIMIT_WAIT = 90.0
UNAVAILABLE = frozenset({502, 503, 504})
"""The gateway's answers while the service behind it is down or restarting."""
UNAVAILABLE_WAIT = 60.0
MAX_BACKOFF = 5.0


class DemoError(PlatformError):
    """The demo could not go on: a call answered something it cannot work with."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Token:
    """An access token and when it expires (seconds since the epoch, so it can be cached)."""

    def __init__(self, value: str, expires_in: float) -> None:
        self.value = value
        self.expires_at = time.time() + expires_in

    @property
    def fresh(self) -> bool:
        """Whether it lives at least two more minutes."""
        return self.expires_at - time.time() > 120


class Gateway:
    """JSON calls to the gateway; `login` gets tokens from `/api/auth/token`."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, unavailable_wait: float = UNAVAILABLE_WAIT
    ) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=f"{self.base_url}/api", timeout=timeout, limits=limits, trust_env=False
        )
        self._unavailable_wait = unavailable_wait
        self.rate_limited = 0.0
        """Seconds spent waiting out 429 answers."""
        self.retried = 0
        """Calls sent again because the gateway or a service behind it was unavailable."""

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: Token | str | None = None,
        body: dict[str, Any] | None = None,
        expect: Collection[int] = (200, 201),
    ) -> Any:
        """Call `/api<path>`; return the JSON body of an expected answer, else raise DemoError."""
        headers = {}
        if token is not None:
            headers["Authorization"] = (
                f"Bearer {token.value if isinstance(token, Token) else token}"
            )
        waited = 0.0
        while True:
            response = await self._available(method, path, body, headers)
            if response.status_code != 429 or waited >= MAX_RATE_LIMIT_WAIT:
                break
            pause = min(float(response.headers.get("Retry-After", "1") or 1), 30.0)
            waited += pause
            self.rate_limited += pause
            await asyncio.sleep(pause)
        if response.status_code not in expect:
            raise DemoError(
                f"{method} /api{path} answered {response.status_code}: {_detail(response)}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    async def _available(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        """Send until an answer other than "unavailable" comes, for up to `unavailable_wait`.

        A request the service got before it died may be sent twice; an order placed twice
        is one more order in the demo, which settles like the others.
        """
        deadline, pause = time.monotonic() + self._unavailable_wait, 0.2
        while True:
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                failure: httpx.Response | Exception = exc
            except httpx.HTTPError as exc:
                raise DemoError(f"{method} {self.base_url}/api{path} failed: {exc!r}") from exc
            else:
                if response.status_code not in UNAVAILABLE:
                    return response
                failure = response
            if time.monotonic() + pause > deadline:
                if isinstance(failure, httpx.Response):
                    return failure  # the caller names the status and the problem's detail
                raise DemoError(
                    f"{method} {self.base_url}/api{path} failed for "
                    f"{self._unavailable_wait:g} s: {failure!r}"
                ) from failure
            self.retried += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_BACKOFF)

    async def login(self, email: str, password: str, *, wait: float = 60.0) -> Token:
        """A password-grant token; a new user's login appears a moment after registration.

        Retries back off (up to 5 s) so that they stay under the gateway's limit on
        `/api/auth/token` while auth catches up with the registrations of a busy start.
        """
        deadline, pause = time.monotonic() + wait, 0.2
        body = {"grant_type": "password", "username": email, "password": password}
        while True:
            try:
                answer = await self.call("POST", "/auth/token", body=body, expect=(200,))
            except DemoError as exc:
                if exc.status not in (401, 429) or time.monotonic() >= deadline:
                    raise DemoError(f"login of {email}: {exc}", status=exc.status) from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            return Token(answer["access_token"], float(answer.get("expires_in", 900)))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(problem, dict):
        return str(problem.get("detail") or problem.get("title") or problem)[:300]
    return str(problem)[:300]
