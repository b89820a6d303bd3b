"""Payload rules: closed event payloads, integer money, keywords the models do not enforce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import is_object, schemas, subschemas
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["money_integer", "patterns_portable", "payload_closed", "unenforced_keywords"]

_MONEY_NAME = re.compile(r"(_cents|amount|price|fee|total)$")
_MONEY_SCHEMA = "Money"
_DIALECT_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\([sSdDwWb])")
_UNENFORCED = ("minProperties", "maxProperties", "uniqueItems", "dependentRequired", "if")


def _open(schema: dict[str, Any]) -> bool:
    """An object schema that accepts unknown fields (a typed map is a deliberate choice)."""
    extra = schema.get("additionalProperties", True)
    return is_object(schema) and extra is not False and not isinstance(extra, dict)


@LINT.rule("PAYLOAD_CLOSED", "payload", "evolution")
def payload_closed(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every event payload, and every object schema it reaches, sets additionalProperties false."""
    seen: set[Ref] = set()
    for channel in sorted(catalog.channels.values(), key=lambda c: c.place):
        stack = [channel.message.payload]
        while stack:
            place, schema = workspace.resolve(stack.pop())
            if place in seen or not isinstance(schema, dict):
                continue
            seen.add(place)
            if _open(schema):
                yield Finding(
                    place.file,
                    place.pointer,
                    f"object schema {place.name} reached by {channel.message.name} is open; "
                    "set additionalProperties: false",
                )
            stack += [Ref(place.file, join_pointer(place.pointer, *t)) for t in subschemas(schema)]


def _is_integer(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


@LINT.rule("MONEY_INTEGER", "money", "payload")
def money_integer(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """A money field (`*_cents`, `*amount`, `*price`, `*fee`, `*total`) is Money, an object
    of Money's shape (a bounded form such as Price), or an integer."""
    for file, pointer, schema in schemas(workspace):
        for name, prop in (schema.get("properties") or {}).items():
            if not (_MONEY_NAME.search(name) and isinstance(prop, dict)):
                continue
            at = join_pointer(pointer, "properties", name)
            target, resolved = workspace.resolve(Ref(file, at))
            if target.name == _MONEY_SCHEMA or (
                isinstance(resolved, dict) and (_is_integer(resolved) or _is_money(resolved))
            ):
                continue
            kind = resolved.get("type", "untyped") if isinstance(resolved, dict) else "untyped"
            yield Finding(
                file,
                at,
                f"money field {name} is {kind}; money is integer minor units or the shared Money",
            )


def _is_money(schema: dict[str, Any]) -> bool:
    """Money's shape: an object that requires an integer `amount_minor` and a `currency`."""
    properties = schema.get("properties") or {}
    amount = properties.get("amount_minor")
    return (
        schema.get("type") == "object"
        and {"amount_minor", "currency"} <= set(schema.get("required") or ())
        and isinstance(amount, dict)
        and _is_integer(amount)
    )


@LINT.rule("SCHEMA_KEYWORD_UNENFORCED", "payload", "codegen", level="WARN")
def unenforced_keywords(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """Schema keywords the generated models drop are shown, for the service to enforce by hand
    (minProperties, maxProperties, uniqueItems, dependentRequired, if/then/else)."""
    for file, pointer, schema in schemas(workspace):
        for keyword in _UNENFORCED:
            if keyword in schema and schema[keyword] is not False:
                name = "if/then/else" if keyword == "if" else keyword
                yield Finding(
                    file,
                    join_pointer(pointer, keyword),
                    f"{name} is not enforced by the generated models; the service must check it",
                )


@LINT.rule("PATTERN_PORTABLE", "payload", "codegen")
def patterns_portable(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """A `pattern` avoids \\s, \\d, \\w and \\b: ECMA-262 (the contract's dialect), Python's
    `re` (jsonschema) and Rust's regex (pydantic) give them different character sets."""
    for file, pointer, schema in schemas(workspace):
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and (found := _DIALECT_ESCAPE.search(pattern)):
            yield Finding(
                file,
                join_pointer(pointer, "pattern"),
                f"pattern uses \\{found.group(1)}, which the validators read differently; "
                "spell the characters out, e.g. [0-9] or [ \\t\\n]",
            )
