"""The comparable shape of an OpenAPI document: what a client relies on, per operation.

Both the contract and a running app's `app.openapi()` reduce to the same form (paths,
methods, operationIds, parameters with `in` and `required`, request body presence,
documented status codes, security requirement), so a difference names the operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["OperationShape", "compare", "shape"]

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class OperationShape:
    """What one operation promises, normalised."""

    operation_id: str
    parameters: frozenset[tuple[str, str, bool]]
    """(in, name, required); header names lower-cased."""
    request_body: tuple[bool, bool]
    """(has a body, the body is required)."""
    statuses: frozenset[str]
    security: frozenset[frozenset[str]]
    """Each alternative requirement as the set of scheme names; empty: public."""


def shape(document: dict[str, Any]) -> dict[tuple[str, str], OperationShape]:
    """Every operation of `document` keyed by (METHOD, path)."""
    default_security = _security(document.get("security") or [])
    out: dict[tuple[str, str], OperationShape] = {}
    for path, item in (document.get("paths") or {}).items():
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody")
            security = operation.get("security")
            out[(method.upper(), path)] = OperationShape(
                operation_id=str(operation.get("operationId", "")),
                parameters=frozenset(
                    _parameter(document, p) for p in [*shared, *(operation.get("parameters") or [])]
                ),
                request_body=(body is not None, bool(body and body.get("required", False))),
                statuses=frozenset(str(code) for code in operation.get("responses") or {}),
                security=default_security if security is None else _security(security),
            )
    return out


def compare(contract: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """One sentence per difference between the contract and the runtime document."""
    expected, actual = shape(contract), shape(runtime)
    problems = [
        f"{m} {p} ({expected[(m, p)].operation_id}) is in the contract but not served"
        for m, p in sorted(expected.keys() - actual.keys())
    ]
    problems += [
        f"{m} {p} ({actual[(m, p)].operation_id}) is served but not in the contract"
        for m, p in sorted(actual.keys() - expected.keys())
    ]
    for key in sorted(expected.keys() & actual.keys()):
        problems += _differences(
            f"{key[0]} {key[1]} ({expected[key].operation_id})", expected[key], actual[key]
        )
    return problems


def _differences(label: str, want: OperationShape, got: OperationShape) -> list[str]:
    out = []
    if want.operation_id != got.operation_id:
        out.append(f"{label}: operationId is {got.operation_id!r} at run time")
    if want.parameters != got.parameters:
        out.append(
            f"{label}: parameters (in, name, required) differ; contract only "
            f"{sorted(want.parameters - got.parameters)}, "
            f"runtime only {sorted(got.parameters - want.parameters)}"
        )
    if want.request_body != got.request_body:
        out.append(
            f"{label}: request body (present, required) is {want.request_body} in the contract, "
            f"{got.request_body} at run time"
        )
    if want.statuses != got.statuses:
        out.append(
            f"{label}: status codes differ; contract only {sorted(want.statuses - got.statuses)}, "
            f"runtime only {sorted(got.statuses - want.statuses)}"
        )
    if want.security != got.security:
        out.append(
            f"{label}: security is {_names(want.security)} in the contract, "
            f"{_names(got.security)} at run time"
        )
    return out


def _parameter(document: dict[str, Any], parameter: dict[str, Any]) -> tuple[str, str, bool]:
    if "$ref" in parameter:
        parameter = _local(document, parameter["$ref"])
    where, name = str(parameter.get("in")), str(parameter.get("name"))
    required = bool(parameter.get("required", where == "path"))
    return where, name.lower() if where == "header" else name, required


def _local(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for token in ref.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _security(requirements: list[dict[str, Any]]) -> frozenset[frozenset[str]]:
    # `{}` in a list means "or no credentials": optional auth; keep it as an empty set.
    return frozenset(frozenset(r) for r in requirements)


def _names(security: frozenset[frozenset[str]]) -> str:
    if not security:
        return "public"
    return " or ".join(sorted("+".join(sorted(r)) or "anonymous" for r in security))
