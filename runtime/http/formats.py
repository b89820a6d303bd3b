"""The contracts' string formats as the wire carries them: RFC 3339 only.

Pydantic's lax parsing reads `"0.5"`, `"123"` or `0` as a Unix time and `"2026-01-01"` with
no time as midnight; JSON Schema's `date-time` and `date` are RFC 3339 strings, nothing else.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["is_rfc3339_date", "is_rfc3339_date_time", "rfc3339_date", "rfc3339_date_time"]

_DATE = r"\d{4}-\d{2}-\d{2}"
_DATE_TIME = re.compile(rf"{_DATE}[Tt]\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?([Zz]|[+-]\d{{2}}:\d{{2}})")
_FULL_DATE = re.compile(_DATE)


def is_rfc3339_date_time(value: Any) -> bool:
    """Whether `value` is a string shaped as an RFC 3339 `date-time` (offset required)."""
    return isinstance(value, str) and _DATE_TIME.fullmatch(value) is not None


def is_rfc3339_date(value: Any) -> bool:
    """Whether `value` is a string shaped as an RFC 3339 `full-date`."""
    return isinstance(value, str) and _FULL_DATE.fullmatch(value) is not None


def rfc3339_date_time(value: Any) -> Any:
    """Return `value` if it is an RFC 3339 date-time string; raise `ValueError` otherwise."""
    if not is_rfc3339_date_time(value):
        raise ValueError("not an RFC 3339 date-time such as 2026-12-12T18:00:00Z")
    return value


def rfc3339_date(value: Any) -> Any:
    """Return `value` if it is an RFC 3339 full-date string; raise `ValueError` otherwise."""
    if not is_rfc3339_date(value):
        raise ValueError("not an RFC 3339 date such as 2026-12-12")
    return value
