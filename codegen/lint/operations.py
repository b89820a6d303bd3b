"""REST operation rules: ids, problem+json errors, links on creation, auth responses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import rest_operations
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["creation_links", "operation_ids", "problem_responses", "security_responses"]

_PROBLEM = "application/problem+json"
_REQUIRED_ERRORS = ("400", "422")


@LINT.rule("OPERATION_ID_UNIQUE", "rest", "naming")
def operation_ids(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every REST operation has an operationId, unique within its service."""
    for service in catalog.services.values():
        seen: set[str] = set()
        for endpoint in service.endpoints:
            if not endpoint.operation_id or endpoint.operation_id in seen:
                yield Finding(
                    endpoint.place.file,
                    endpoint.place.pointer,
                    f"operationId '{endpoint.operation_id}' is missing or repeated",
                    "OPERATION_ID_UNIQUE",
                )
            seen.add(endpoint.operation_id)


def _responses(op: dict[str, Any]) -> dict[str, Any]:
    return {str(status): node for status, node in (op.get("responses") or {}).items()}


@LINT.rule("PROBLEM_RESPONSES", "rest", "errors")
def problem_responses(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every REST operation documents 400 and 422; every error is shared problem+json."""
    problems = workspace.rel(workspace.root / "schemas" / "problems.yaml")
    for endpoint, op in rest_operations(workspace, catalog):
        responses = _responses(op)
        here = endpoint.place
        for status in _REQUIRED_ERRORS:
            if status not in responses:
                yield Finding(
                    here.file,
                    join_pointer(here.pointer, "responses"),
                    f"{endpoint.method} {endpoint.path} does not document a {status} problem",
                )
        for status, node in responses.items():
            if not status.isdigit() or int(status) < 400:
                continue
            at = Ref(here.file, join_pointer(here.pointer, "responses", status))
            ref = node.get("$ref") if isinstance(node, dict) else None
            if not isinstance(ref, str) or workspace.target_of(ref, at).file != problems:
                yield Finding(at.file, at.pointer, f"response {status} is not a $ref to {problems}")
                continue
            _, response = workspace.resolve(at)
            types = sorted((response.get("content") or {}) if isinstance(response, dict) else {})
            if types != [_PROBLEM]:
                yield Finding(
                    at.file,
                    at.pointer,
                    f"response {status} is {', '.join(types) or 'empty'}, not {_PROBLEM}",
                )


@LINT.rule("CREATE_RESPONSE_LINKS", "rest")
def creation_links(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A POST that answers 201 declares OpenAPI `links` to read what it created."""
    for endpoint, op in rest_operations(workspace, catalog):
        if endpoint.method != "POST" or "201" not in _responses(op):
            continue
        at = Ref(endpoint.place.file, join_pointer(endpoint.place.pointer, "responses", "201"))
        _, response = workspace.resolve(at)
        if not (isinstance(response, dict) and response.get("links")):
            yield Finding(
                at.file,
                at.pointer,
                f"{endpoint.operation_id or endpoint.path} creates something "
                "but its 201 response declares no links",
            )


def _secured(workspace: Workspace, place: Ref, op: dict[str, Any]) -> bool:
    """Whether the effective `security` demands a token (an empty `{}` makes it optional)."""
    root = workspace.document(place.file)
    requirements = op["security"] if "security" in op else root.get("security")
    return isinstance(requirements, list) and bool(requirements) and all(requirements)


@LINT.rule("SECURITY_RESPONSES", "rest", "security")
def security_responses(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A secured REST operation documents 401; one restricted by `x-roles` documents 403."""
    for endpoint, op in rest_operations(workspace, catalog):
        responses = _responses(op)
        here = endpoint.place
        wanted = []
        if _secured(workspace, here, op) and "401" not in responses:
            wanted.append(("401", "requires a token"))
        if op.get("x-roles") and "403" not in responses:
            wanted.append(("403", "is restricted by x-roles"))
        for status, why in wanted:
            yield Finding(
                here.file,
                join_pointer(here.pointer, "responses"),
                f"{endpoint.method} {endpoint.path} {why} but does not document {status}",
            )
