"""Request bodies as the contracts define them: JSON types as sent, no nulls, no NUL
characters, RFC 3339 times.

No contract declares a nullable type, but a generated model gives each optional field a
`None` default; without `no_nulls` `{"province": null}` would pass as "not given". No text
of the platform holds U+0000 either: PostgreSQL refuses it in `text` and `jsonb` alike, so a
body carrying one (in a value or a key) is refused here, naming the field, instead of failing
in the database as a 500 (`no_nulls` checks both). FastAPI
validates a parsed body in pydantic's lax Python mode, which reads `"true"` or `1` as a
boolean and `0` as a date-time; `json_body` validates it as JSON in strict mode instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from runtime.http.formats import is_rfc3339_date, is_rfc3339_date_time

__all__ = ["NUL_DETAIL", "json_body", "no_nulls"]

NUL_DETAIL = "holds U+0000 (NUL), which no text of the platform may hold"

M = TypeVar("M", bound=BaseModel)


def no_nulls(value: Any, path: str = "body") -> Any:
    """Return `value` unchanged; raise `ValueError` naming the first null, or the first
    string or key holding U+0000, inside it."""
    if value is None:
        raise ValueError(f"{path} is null; leave the field out instead")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path} {NUL_DETAIL}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError(f"a key of {path} {NUL_DETAIL}")
            no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            no_nulls(item, f"{path}[{index}]")
    return value


def json_body(model: type[M]) -> Callable[[Any], M | Any]:
    """A before-validator that reads a parsed JSON body into `model` as strict JSON."""

    def validate(value: Any) -> M | Any:
        if not isinstance(value, dict):
            return value  # not a JSON object (or not JSON at all): the model refuses it
        no_nulls(value)
        # JSON Schema's integer includes 30.0; pydantic's strict int does not.
        made = model.model_validate_json(json.dumps(_integral(value)), strict=True)
        wrong = list(_temporal_errors(made, value, ()))
        if wrong:
            raise ValidationError.from_exception_data(model.__name__, wrong)
        return made

    return validate


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _temporal_errors(made: Any, raw: Any, loc: tuple[str | int, ...]) -> Any:
    """Errors for each date or date-time that was not sent as an RFC 3339 string."""
    if isinstance(made, datetime):
        if not is_rfc3339_date_time(raw):
            yield _error("date_time_format", "an RFC 3339 date-time", loc, raw)
    elif isinstance(made, date):
        if not is_rfc3339_date(raw):
            yield _error("date_format", "an RFC 3339 date", loc, raw)
    elif isinstance(made, BaseModel) and isinstance(raw, dict):
        for key in made.model_fields_set:
            if key in raw:
                yield from _temporal_errors(getattr(made, key), raw[key], (*loc, key))
    elif isinstance(made, list | tuple) and isinstance(raw, list):
        for index, (item, sent) in enumerate(zip(made, raw, strict=False)):
            yield from _temporal_errors(item, sent, (*loc, index))


def _error(kind: str, what: str, loc: tuple[str | int, ...], raw: Any) -> InitErrorDetails:
    return {
        "type": PydanticCustomError(kind, f"Input should be {what} string"),
        "loc": loc,
        "input": raw,
    }
