"""RFC 9457 problem details: the one error shape of every A4CO REST API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from runtime.errors import PlatformError

__all__ = ["PROBLEM_JSON", "Problem", "ProblemError", "problem_responses"]

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """A problem details body (RFC 9457); extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemError(PlatformError):
    """Raised by an API handler (or a client) to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))
        self.problem = Problem(type=type, title=title, status=status, detail=detail)
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        """The HTTP status of the problem."""
        return self.problem.status


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` entries documenting each error status as problem+json."""
    return {
        status: {
            "description": text,
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, text in descriptions.items()
    }
