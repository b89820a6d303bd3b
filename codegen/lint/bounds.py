"""Bounds rules: what the platform accepts is bounded, so hostile input is refused by the
generated models with a 422 or a dead letter naming the field, not by PostgreSQL or memory.

An integer has both bounds or an `int32`/`int64` format (which the generated models turn
into bounds), a string a `maxLength` (an enum, a const, a uuid, a date or a date-time is
bounded by what it is), an anchored pattern without `*`, `+` or
`{n,}` is bounded too), an array a `maxItems`, and a money amount a minimum of at least 0.
REST requests and parameters must be bounded (an ERROR). Message payloads are only warned
about: a bound added to a published message narrows what its readers accept, which the
streams' compatibility modes refuse, so it waits for the message's next version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import rest_operations, subschemas
from codegen.loader import Ref, join_pointer
from codegen.pytypes import INTEGER_FORMATS

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = [
    "bounded_pattern",
    "inputs_bounded",
    "messages_bounded",
    "unbounded",
]

_BOUNDED_FORMATS = frozenset({"uuid", "date", "date-time"})
_MONEY_NAME = re.compile(r"(_cents|_minor|amount|price|fee|total)$")
_ESCAPE = re.compile(r"\\.")
_UNBOUNDED_QUANTIFIER = re.compile(r"[*+]|\{[0-9]+,\}")


def bounded_pattern(pattern: Any) -> bool:
    """Whether a pattern bounds a string's length: anchored at both ends, with no `*`, `+`
    or `{n,}` (such as `^[0-9]{5}$`)."""
    if not isinstance(pattern, str):
        return False
    bare = _ESCAPE.sub("x", pattern)
    return bare.startswith("^") and bare.endswith("$") and not _UNBOUNDED_QUANTIFIER.search(bare)


def _types(schema: dict[str, Any]) -> frozenset[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    return (
        frozenset(k for k in kind if isinstance(k, str)) if isinstance(kind, list) else frozenset()
    )


def _has(schema: dict[str, Any], *keys: str) -> bool:
    return any(
        isinstance(schema.get(k), int | float) and not isinstance(schema.get(k), bool) for k in keys
    )


def unbounded(schema: dict[str, Any], name: str = "") -> list[str]:
    """What one schema node (not its subschemas) leaves unbounded, as phrases."""
    if "enum" in schema or "const" in schema:
        return []
    kinds, wrong = _types(schema), []
    if "integer" in kinds or "number" in kinds:
        if schema.get("format") not in INTEGER_FORMATS and not (
            _has(schema, "minimum", "exclusiveMinimum")
            and _has(schema, "maximum", "exclusiveMaximum")
        ):
            also = ", nor an int32/int64 format" if "integer" in kinds else ""
            wrong.append(f"has no minimum and maximum{also}")
        if _MONEY_NAME.search(name) and not _has(schema, "minimum", "exclusiveMinimum"):
            wrong.append("is money without a minimum (0 or more)")
        elif _MONEY_NAME.search(name):
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            if isinstance(low, int | float) and low < 0:
                wrong.append(f"is money with a negative minimum ({low})")
    if (
        "string" in kinds
        and "maxLength" not in schema
        and schema.get("format") not in _BOUNDED_FORMATS
        and not bounded_pattern(schema.get("pattern"))
    ):
        wrong.append("is a string without a maxLength")
    if "array" in kinds and "maxItems" not in schema:
        wrong.append("is an array without a maxItems")
    return wrong


def _walk(
    workspace: Workspace, start: Ref, name: str, seen: set[Ref]
) -> Iterator[tuple[Ref, str, dict[str, Any]]]:
    """Every schema node reached from `start` (following `$ref`s once), with its field name."""
    stack: list[tuple[Ref, str]] = [(start, name)]
    while stack:
        at, name = stack.pop()
        place, schema = workspace.resolve(at)
        if place in seen or not isinstance(schema, dict):
            continue
        seen.add(place)
        yield place, name, schema
        for tokens in subschemas(schema):
            child = name if tokens[0] in ("items", "allOf", "anyOf", "oneOf") else str(tokens[-1])
            stack.append((Ref(place.file, join_pointer(place.pointer, *tokens)), child))


def _findings(
    workspace: Workspace, starts: list[tuple[Ref, str, str]], seen: set[Ref]
) -> Iterator[Finding]:
    for start, what, top in starts:
        for place, name, schema in _walk(workspace, start, top, seen):
            for phrase in unbounded(schema, name):
                yield Finding(
                    place.file, place.pointer, f"{name or 'the schema'} of {what} {phrase}"
                )


@LINT.rule("INPUT_BOUNDED", "payload", "security")
def inputs_bounded(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every integer, string and array a REST request or parameter holds is bounded, and
    money has a minimum of at least 0: the generated models then refuse what is out of them."""
    starts: list[tuple[Ref, str, str]] = []
    for endpoint, op in rest_operations(workspace, catalog):
        here = endpoint.place
        what = f"{endpoint.method} {endpoint.path}"
        if endpoint.request is not None:
            starts.append((endpoint.request.schema, f"{what}'s request", "the body"))
        item = here.pointer.rsplit("/", 1)[0]
        for owner, parameters in ((here.pointer, op.get("parameters")), (item, None)):
            if parameters is None:
                _, node = workspace.resolve(Ref(here.file, owner))
                parameters = node.get("parameters") if isinstance(node, dict) else None
            for index in range(len(parameters or ())):
                at = Ref(here.file, join_pointer(owner, "parameters", str(index)))
                _, parameter = workspace.resolve(at)
                name = parameter.get("name", "") if isinstance(parameter, dict) else ""
                schema = Ref(at.file, join_pointer(at.pointer, "schema"))
                starts.append((schema, f"{what}'s parameters", name))
    yield from _findings(workspace, starts, set())


@LINT.rule("MESSAGE_BOUNDED", "payload", "evolution", level="WARN")
def messages_bounded(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every integer, string and array of a message payload is bounded (a warning: adding a
    bound to a published message narrows it, so it belongs in the message's next version)."""
    starts = [
        (channel.message.payload, channel.message.name, "the payload")
        for channel in sorted(catalog.channels.values(), key=lambda c: c.place)
    ]
    yield from _findings(workspace, starts, set())
