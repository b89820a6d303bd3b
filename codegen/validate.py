"""Validate contracts: meta-schemas, `$ref`s, schema keywords and every example.

Each problem is a `Finding` with the file and JSON pointer; all are gathered, not just the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from openapi_spec_validator import OpenAPIV31SpecValidator

from codegen.bundle import Bundle
from codegen.errors import ContractError, Finding
from codegen.loader import Ref, Workspace, join_pointer
from codegen.model import Catalog, Example, Service

__all__ = ["check_documents", "service_bundle", "validate_examples"]

SCHEMA_KEYWORDS = frozenset(
    {
        "$ref",
        "$defs",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "enum",
        "const",
        "description",
        "title",
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "examples",
        "example",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
        "externalDocs",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "contentMediaType",
        "contentEncoding",
        "if",
        "then",
        "else",
        "dependentRequired",
    }
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames")
_SUBSCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")


@cache
def _asyncapi_validator() -> jsonschema.Draft7Validator:
    text = resources.files("codegen").joinpath("metaschemas/asyncapi-3.0.0.json").read_text()
    return jsonschema.Draft7Validator(json.loads(text))


def check_documents(workspace: Workspace) -> list[Finding]:
    """Meta-schema, `$ref` and keyword findings for every document under the workspace."""
    findings: list[Finding] = []
    for path in sorted(workspace.root.rglob("*.yaml")):
        file = workspace.rel(path)
        try:
            doc = workspace.document(file)
        except ContractError as exc:
            findings.append(exc.finding)
            continue
        if isinstance(doc, dict) and "asyncapi" in doc:
            findings += _meta_asyncapi(file, doc)
        elif isinstance(doc, dict) and "openapi" in doc:
            findings += _meta_openapi(workspace, file, doc)
        findings += _refs(workspace, Ref(file, ""), doc)
        findings += _keywords(file, doc)
    return findings


def _meta_asyncapi(file: str, doc: dict[str, Any]) -> list[Finding]:
    out = []
    for error in _asyncapi_validator().iter_errors(doc):
        best = jsonschema.exceptions.best_match([error])
        pointer = join_pointer("", *best.absolute_path)
        out.append(
            Finding(
                file,
                pointer,
                f"breaks the AsyncAPI 3.0 schema: {best.message[:300]}",
                "ASYNCAPI_SCHEMA",
            )
        )
    return out


def _meta_openapi(workspace: Workspace, file: str, doc: dict[str, Any]) -> list[Finding]:
    uri = (workspace.root.resolve().parent / file).as_uri()
    out = []
    try:
        errors = list(OpenAPIV31SpecValidator(doc, base_uri=uri).iter_errors())
    except Exception as exc:  # the validator raises on unresolvable refs; _refs names them
        return [
            Finding(file, "", f"could not be checked against OpenAPI 3.1: {exc}", "OPENAPI_SCHEMA")
        ]
    for error in errors:
        pointer = join_pointer("", *getattr(error, "absolute_path", ()))
        message = getattr(error, "message", str(error))
        out.append(
            Finding(
                file, pointer, f"breaks the OpenAPI 3.1 schema: {message[:300]}", "OPENAPI_SCHEMA"
            )
        )
    return out


def _refs(workspace: Workspace, here: Ref, node: Any) -> Iterator[Finding]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            try:
                workspace.resolve(here)
            except ContractError as exc:
                yield exc.finding
            return
        for key, value in node.items():
            if key not in ("examples", "example", "default", "enum", "const"):
                yield from _refs(workspace, Ref(here.file, join_pointer(here.pointer, key)), value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(workspace, Ref(here.file, join_pointer(here.pointer, i)), value)


def _schema_roots(doc: Any) -> Iterator[tuple[str, Any]]:
    """Places where a document holds schemas (not every dict is a schema)."""
    if not isinstance(doc, dict):
        return
    if "asyncapi" in doc or "openapi" in doc:
        for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
            yield join_pointer("/components/schemas", name), schema
        for name, msg in ((doc.get("components") or {}).get("messages") or {}).items():
            if isinstance(msg, dict) and isinstance(msg.get("payload"), dict):
                yield join_pointer("/components/messages", name, "payload"), msg["payload"]
    elif "messageTraits" not in doc and "version" not in doc:
        for name, value in doc.items():
            if isinstance(value, dict) and ("type" in value or "$ref" in value or "enum" in value):
                yield join_pointer("", name), value


def _keywords(file: str, doc: Any) -> Iterator[Finding]:
    for pointer, schema in _schema_roots(doc):
        yield from _schema_keywords(file, pointer, schema)


def _schema_keywords(file: str, pointer: str, schema: Any) -> Iterator[Finding]:
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in SCHEMA_KEYWORDS and not key.startswith("x-"):
            hint = (
                " (a comma inside a {flow: mapping} splits it; quote the text)"
                if value is None
                else ""
            )
            yield Finding(
                file,
                join_pointer(pointer, key),
                f"'{key}' is not a JSON Schema keyword{hint}",
                "SCHEMA_KEYWORD",
            )
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            yield from _schema_keywords(file, join_pointer(pointer, key, name), sub)
    for key in _SUBSCHEMA_ONE:
        yield from _schema_keywords(file, join_pointer(pointer, key), schema.get(key))
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or []):
            yield from _schema_keywords(file, join_pointer(pointer, key, i), sub)


def service_bundle(workspace: Workspace, service: Service) -> tuple[Bundle, dict[str, str]]:
    """Bundle every schema a service's code needs; map each message to its model name."""
    bundle = Bundle(workspace)
    messages: dict[str, str] = {}
    channels = [c for op in service.sends + service.receives for c in (op.channel, *op.older)]
    channels += service.stored  # read back from its event store, so modelled too
    for channel in sorted(channels, key=lambda c: c.model_name):
        messages[channel.model_name] = bundle.add(channel.message.payload, channel.model_name)
    for endpoint in service.endpoints:
        for body in [endpoint.request, *(r.body for r in endpoint.responses)]:
            if body is not None:
                bundle.add(body.schema)
    return bundle, messages


def validate_examples(workspace: Workspace, catalog: Catalog) -> list[Finding]:
    """Check every message, body and schema example against its schema.

    That examples exist at all is the lint rule EXAMPLE_PRESENT (codegen.lint.docs).
    """
    findings: list[Finding] = []
    for service in catalog.services.values():
        try:
            bundle, names = service_bundle(workspace, service)
        except ContractError as exc:
            findings.append(exc.finding)
            continue
        for op in service.sends:
            message = op.channel.message
            findings += _check(bundle, names[op.channel.model_name], message.examples)
        for endpoint in service.endpoints:
            for body in [endpoint.request, *(r.body for r in endpoint.responses)]:
                if body is None:
                    continue
                findings += _check(bundle, body.schema.name, body.examples)
        for name, place in bundle.places().items():
            examples = bundle.defs[name].get("examples") or []
            findings += _check(
                bundle,
                name,
                tuple(
                    Example(
                        str(i), value, Ref(place.file, join_pointer(place.pointer, "examples", i))
                    )
                    for i, value in enumerate(examples)
                ),
            )
    return findings


def _check(bundle: Bundle, name: str, examples: tuple[Example, ...]) -> list[Finding]:
    validator = jsonschema.Draft202012Validator(
        bundle.schema_for(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    out = []
    for example in examples:
        for error in validator.iter_errors(example.value):
            pointer = join_pointer(example.place.pointer, *error.absolute_path)
            out.append(
                Finding(
                    example.place.file,
                    pointer,
                    f"example '{example.name}' does not validate against {name}: "
                    f"{error.message[:200]}",
                    "EXAMPLE_INVALID",
                )
            )
    return out
