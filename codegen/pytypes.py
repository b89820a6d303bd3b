"""Python annotations and FastAPI parameter declarations computed from JSON Schemas."""

from __future__ import annotations

import keyword
from typing import Any

from codegen.model import Parameter
from codegen.naming import snake

__all__ = [
    "FORMAT_CHECKS",
    "INTEGER_FORMATS",
    "annotation",
    "param_declaration",
    "python_literal",
    "with_format_bounds",
]

_FORMATS = {"uuid": "UUID", "date-time": "datetime", "date": "date"}
FORMAT_CHECKS = {"date-time": "rfc3339_date_time", "date": "rfc3339_date"}
"""Validators of `runtime.http.formats` that a parameter of each format runs first: a
query string such as `0.5` is no date-time, though pydantic reads it as a Unix time."""
INTEGER_FORMATS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
"""The integer formats of OpenAPI's format registry, as the (minimum, maximum) they stand for."""
_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_length",
    "maxItems": "max_length",
}


def python_literal(value: Any) -> str:
    """A Python source literal for a JSON value."""
    return repr(value)


def annotation(schema: dict[str, Any]) -> str:
    """The Python type of a (resolved) parameter schema."""
    if "enum" in schema:
        return "Literal[" + ", ".join(python_literal(v) for v in schema["enum"]) + "]"
    kind = schema.get("type", "string")
    if kind == "array":
        return f"list[{annotation(schema.get('items') or {})}]"
    if kind == "string" and schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    return _TYPES.get(kind, "str")


def with_format_bounds(schema: Any) -> Any:
    """`schema` with each `int32`/`int64` format also written as a minimum and a maximum
    (where no tighter one is), in every subschema: the model generators enforce bounds, not
    formats, and an integer beyond int64 would otherwise fail only in PostgreSQL."""
    if isinstance(schema, list):
        return [with_format_bounds(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: with_format_bounds(value) for key, value in schema.items()}
    kind = out.get("format")
    limits = INTEGER_FORMATS.get(kind) if isinstance(kind, str) else None
    if limits is not None:
        low, high = limits
        if not any(k in out for k in ("minimum", "exclusiveMinimum")):
            out["minimum"] = low
        if not any(k in out for k in ("maximum", "exclusiveMaximum")):
            out["maximum"] = high
    return out


def param_declaration(param: Parameter) -> tuple[str, str, str]:
    """(python name, route parameter source, protocol parameter source) for one parameter."""
    name = snake(param.name) if not param.name.islower() else param.name.replace("-", "_")
    if keyword.iskeyword(name):
        name += "_"
    base = annotation(param.schema)
    kwargs = [f"description={param.description!r}"] if param.description else []
    if name != param.name:
        kwargs.append(f"alias={param.name!r}")
    bounded = with_format_bounds(param.schema)
    kwargs += [
        f"{arg}={python_literal(bounded[key])}"
        for key, arg in _CONSTRAINTS.items()
        if key in bounded
    ]
    source = "Path" if param.location == "path" else "Query"
    check = (
        FORMAT_CHECKS.get(param.schema.get("format", "")) if "enum" not in param.schema else None
    )
    checked = (
        f", BeforeValidator({check})" if check and param.schema.get("type") == "string" else ""
    )
    if param.required:
        typed, default = base, ""
    elif "default" in param.schema:
        typed, default = base, f" = {python_literal(param.schema['default'])}"
    else:
        typed, default = f"{base} | None", " = None"
    route = f"{name}: Annotated[{typed}, {source}({', '.join(kwargs)}){checked}]{default}"
    protocol = f"{name}: {typed}{default}"
    return name, route, protocol
