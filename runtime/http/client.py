"""Base of the generated REST clients: one httpx client, typed calls, problem errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from runtime.http.problem import Problem, ProblemError

__all__ = ["RestClient"]


class RestClient:
    """Calls one service's REST API; non-success answers raise `ProblemError`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=dict(headers or {})
        )

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
        """Send one request and return the response when its status is expected."""
        content = body.model_dump_json(exclude_none=True) if body is not None else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"content-type": "application/json"} if content is not None else None
        response = await self._http.request(
            method, path, content=content, params=query, headers=headers
        )
        if response.status_code not in expect:
            raise _problem_of(response)
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
