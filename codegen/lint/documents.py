"""Walk the contract documents as written: files, schemas and their subschemas, REST operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codegen.errors import ContractError
from codegen.loader import Ref, Workspace, join_pointer
from codegen.model import Catalog, Endpoint

__all__ = [
    "documents",
    "is_object",
    "resolve",
    "rest_operations",
    "schema_nodes",
    "schemas",
    "subschemas",
]

_MAPS = ("properties", "patternProperties", "$defs")
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames", "contains")
_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")


def documents(workspace: Workspace) -> Iterator[tuple[str, Any]]:
    """Every YAML document under the workspace root, by workspace-relative name."""
    for path in sorted(workspace.root.rglob("*.yaml")):
        file = workspace.rel(path)
        try:
            yield file, workspace.document(file)
        except ContractError:  # an unreadable file is reported by validation already
            continue


def subschemas(schema: dict[str, Any]) -> Iterator[tuple[str | int, ...]]:
    """The tokens from a schema to each of its direct subschemas (not following `$ref`)."""
    for key in _MAPS:
        value = schema.get(key)
        if isinstance(value, dict):
            for name in value:
                yield key, name
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield (key,)
    for key in _LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            for i in range(len(value)):
                yield key, i


def schema_nodes(pointer: str, schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """A schema and every subschema written inside it, with their pointers."""
    if not isinstance(schema, dict):
        return
    yield pointer, schema
    for tokens in subschemas(schema):
        node: Any = schema
        for token in tokens:
            node = node[token]
        yield from schema_nodes(join_pointer(pointer, *tokens), node)


def _roots(doc: Any) -> Iterator[tuple[str, Any]]:
    """Places where a document holds schemas: named schemas, payloads, headers."""
    if not isinstance(doc, dict):
        return
    if "asyncapi" in doc or "openapi" in doc:
        components = doc.get("components") or {}
        for name, schema in (components.get("schemas") or {}).items():
            yield join_pointer("/components/schemas", name), schema
        for name, msg in (components.get("messages") or {}).items():
            for key in ("payload", "headers"):
                if isinstance(msg, dict) and isinstance(msg.get(key), dict):
                    yield join_pointer("/components/messages", name, key), msg[key]
    elif "messageTraits" in doc:
        for name, trait in (doc.get("messageTraits") or {}).items():
            if isinstance(trait, dict) and isinstance(trait.get("headers"), dict):
                yield join_pointer("/messageTraits", name, "headers"), trait["headers"]
    elif "version" not in doc:  # a shared schema file; platform.yaml has a version
        for name, value in doc.items():
            if isinstance(value, dict) and ("type" in value or "$ref" in value or "enum" in value):
                yield join_pointer("", name), value


def schemas(workspace: Workspace) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every schema written in the contracts (file, pointer, schema), nested ones included."""
    for file, doc in documents(workspace):
        for pointer, root in _roots(doc):
            for here, node in schema_nodes(pointer, root):
                yield file, here, node


def is_object(schema: dict[str, Any]) -> bool:
    """Whether a schema describes a JSON object."""
    kind = schema.get("type")
    return (
        kind == "object"
        or (isinstance(kind, list) and "object" in kind)
        or ("properties" in schema)
    )


def rest_operations(
    workspace: Workspace, catalog: Catalog
) -> Iterator[tuple[Endpoint, dict[str, Any]]]:
    """Every REST operation of the catalog with its operation object as written."""
    for service in sorted(catalog.services.values(), key=lambda s: s.name):
        for endpoint in service.endpoints:
            _, op = workspace.resolve(endpoint.place)
            yield endpoint, op


def resolve(workspace: Workspace, file: str, pointer: str) -> tuple[Ref, Any]:
    """The node at `file#pointer`, following `$ref`s (the place it is written, and it)."""
    return workspace.resolve(Ref(file, pointer))
