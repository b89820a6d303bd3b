"""Request bodies have a size limit: 413 problem+json, refused before the excess is read.

`BodyLimit` wraps an app's `receive`: a `Content-Length` over the limit is refused at the
first read, before any byte of the body; a chunked body is counted as it arrives and
refused at the first chunk past the limit. A route may change the limit of its request
(`limit_body`) before it reads the body; the gateway does so per route.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit", "BodyTooLargeError", "limit_body"]

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""1 MiB: far above any body the contracts describe, far below what hurts a process."""

_SCOPE_KEY = "a4co.body_budget"


class BodyTooLargeError(HTTPException):
    """The request's body is over its limit; the app's error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over the limit of {limit} bytes.")


@dataclass(slots=True)
class _Budget:
    limit: int
    read: int = 0


def limit_body(scope: Scope, max_bytes: int) -> None:
    """Set this request's body limit (a route's own), before its body is read."""
    budget = scope.get(_SCOPE_KEY)
    if isinstance(budget, _Budget):
        budget.limit = max_bytes
    else:
        scope[_SCOPE_KEY] = _Budget(max_bytes)


class BodyLimit:
    """ASGI middleware: bodies over `max_bytes` (or a route's own limit) raise a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget = _Budget(self.max_bytes)
        scope[_SCOPE_KEY] = budget
        declared = _content_length(scope)

        async def receive_within_limit() -> Message:
            if declared is not None and declared > budget.limit:
                raise BodyTooLargeError(budget.limit)
            message = await receive()
            if message["type"] == "http.request":
                budget.read += len(message.get("body", b""))
                if budget.read > budget.limit:
                    raise BodyTooLargeError(budget.limit)
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None
