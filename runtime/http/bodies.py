"""Request bodies as the contracts define them: a field may be left out, never sent as null.

No contract declares a nullable type, but a generated model gives each optional field a
`None` default; without this check `{"province": null}` would pass as "not given".
"""

from __future__ import annotations

from typing import Any

__all__ = ["no_nulls"]


def no_nulls(value: Any, path: str = "body") -> Any:
    """Return `value` unchanged; raise `ValueError` naming the first null inside it."""
    if value is None:
        raise ValueError(f"{path} is null; leave the field out instead")
    if isinstance(value, dict):
        for key, item in value.items():
            no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            no_nulls(item, f"{path}[{index}]")
    return value
