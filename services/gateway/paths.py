"""Which paths the gateway forwards, as the client wrote them (the raw, still-encoded path).

A path is forwarded byte for byte, never decoded and encoded again, so what the service
decodes is what the client sent. The gateway refuses what a service could read as another
path: dot segments (`..`, `%2e%2e`), encoded slashes and backslashes, control characters
and NUL (encoded or not), and bytes that are not UTF-8 once decoded. A service's operator
endpoints (`/metrics`, `/docs`, `/openapi.json`) are for admins only.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, unquote_to_bytes

from starlette.types import Scope

from runtime.errors import PlatformError

__all__ = [
    "OPERATOR_PATHS",
    "UnforwardablePathError",
    "is_operator_path",
    "raw_path",
    "split_path",
]

OPERATOR_PATHS = frozenset({"metrics", "docs", "docs/oauth2-redirect", "redoc", "openapi.json"})
"""A service's own endpoints that describe or measure it: only an admin reaches them."""

_PRINTABLE = frozenset(range(0x21, 0x7F))


class UnforwardablePathError(PlatformError):
    """The path cannot be forwarded as it is; the message says why, for a 400 problem."""


def raw_path(scope: Scope) -> str:
    """The request's path as sent (percent-encoded), from the server's `raw_path`."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.decode("latin-1").partition("?")[0]
    return quote(str(scope.get("path", "")), safe="/%:@!$&'()*+,;=")


def split_path(raw: str, root: str) -> tuple[str, str]:
    """`<root>/<service>/<rest>` -> (service, rest): rest still encoded, without its slash.

    Raises `UnforwardablePathError` for a path no service should be asked for.
    """
    if any(ord(char) not in _PRINTABLE for char in raw):
        raise UnforwardablePathError("The path holds a space, a control or a non-ASCII byte.")
    if not raw.startswith(root + "/"):
        raise UnforwardablePathError("The path does not start as the gateway's paths do.")
    service, _, rest = raw[len(root) + 1 :].partition("/")
    for segment in (service, *rest.split("/")):
        _check_segment(segment)
    return service, rest


def is_operator_path(rest: str) -> bool:
    """Whether the (encoded) path under a service is one of its `OPERATOR_PATHS`."""
    return unquote(rest).strip("/") in OPERATOR_PATHS


def _check_segment(segment: str) -> None:
    decoded_bytes = unquote_to_bytes(segment)
    try:
        decoded = decoded_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnforwardablePathError("The path is not UTF-8 once decoded.") from exc
    if decoded in (".", ".."):
        raise UnforwardablePathError("The path has a dot segment ('.' or '..').")
    if "/" in decoded or "\\" in decoded:
        raise UnforwardablePathError("The path has an encoded slash or a backslash.")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded):
        raise UnforwardablePathError("The path has a control character or NUL.")
