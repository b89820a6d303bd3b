"""TypeScript type expressions and doc comments computed from JSON Schemas.

The TypeScript counterpart of `codegen.pytypes`: the generator's templates only place the
strings made here. Integers are `number`, formats stay `string` (named in a `@format` tag),
enums are unions of string literals, and `additionalProperties: false` gives exact object
types (no index signature).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from typing import Any

__all__ = ["RefName", "doc_comment", "members", "property_key", "ts_type", "type_declaration"]

RefName = Callable[[str], str]
"""Turns a `$ref` string into the name of the TypeScript type it points to."""

_PRIMITIVES = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_WIDTH = 96


def doc_comment(text: str, indent: str = "", tags: tuple[str, ...] = ()) -> str:
    """A JSDoc comment (with a trailing newline), or '' when there is nothing to say."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    lines: list[str] = []
    for i, paragraph in enumerate(paragraphs):
        if i:
            lines.append("")
        lines += textwrap.wrap(paragraph.replace("*/", "*\\/"), _WIDTH - len(indent) - 3)
    lines += list(tags)
    if not lines:
        return ""
    if len(lines) == 1 and len(indent) + len(lines[0]) + 7 <= _WIDTH:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}\n" if line else f"{indent} *\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def property_key(name: str) -> str:
    """An object key: bare when it is an identifier, else a string literal."""
    return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tags(schema: dict[str, Any]) -> tuple[str, ...]:
    tags = [f"@format {schema['format']}"] if isinstance(schema.get("format"), str) else []
    if "default" in schema:
        tags.append(f"@default {_literal(schema['default'])}")
    if schema.get("deprecated") is True:
        tags.append("@deprecated")
    return tuple(tags)


def ts_type(schema: Any, ref_name: RefName, indent: str = "") -> str:
    """The TypeScript type of a schema; nested object types are written at `indent`."""
    return " | ".join(_union(schema, ref_name, indent))


def _fitted(prefix: str, parts: list[str], indent: str) -> str:
    """`prefix` and the type on one line, or a union laid out one member per line."""
    line = f"{prefix} {' | '.join(parts)};"
    if len(parts) < 2 or len(line) <= _WIDTH:
        return line
    return prefix + "".join(f"\n{indent}  | {part}" for part in parts) + ";"


def _union(schema: Any, ref_name: RefName, indent: str) -> list[str]:
    """The members of the schema's type as a union (one member when it is not a union)."""
    if not isinstance(schema, dict) or not schema:
        return ["unknown" if schema is not False else "never"]
    if isinstance(schema.get("$ref"), str):
        return [ref_name(schema["$ref"])]
    if "const" in schema:
        return [_literal(schema["const"])]
    if isinstance(schema.get("enum"), list):
        return [_literal(v) for v in schema["enum"]]
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            return [_bracketed(_union(s, ref_name, indent)) for s in schema[key]]
    if isinstance(schema.get("allOf"), list):
        return [" & ".join(_bracketed(_union(s, ref_name, indent)) for s in schema["allOf"])]
    kind = schema.get("type")
    if isinstance(kind, list):
        return [_bracketed(_union({**schema, "type": k}, ref_name, indent)) for k in kind]
    if kind == "array":
        return [f"{_bracketed(_union(schema.get('items', {}), ref_name, indent))}[]"]
    if kind == "object" or "properties" in schema:
        return [_object(schema, ref_name, indent)]
    return [_PRIMITIVES.get(str(kind), "unknown")]


def _bracketed(parts: list[str]) -> str:
    text = " | ".join(parts)
    return f"({text})" if len(parts) > 1 or " & " in text else text


def _object(schema: dict[str, Any], ref_name: RefName, indent: str) -> str:
    lines = members(schema, ref_name, indent + "  ")
    if not lines:
        extra = schema.get("additionalProperties", True)
        value = "unknown" if extra is True or extra == {} else ts_type(extra, ref_name, indent)
        return "Record<string, never>" if extra is False else f"Record<string, {value}>"
    return "{\n" + "".join(lines) + indent + "}"


def members(schema: dict[str, Any], ref_name: RefName, indent: str) -> list[str]:
    """The member lines of an object type (doc comment, `name?: type;`), index signature last."""
    required = set(schema.get("required") or [])
    properties: dict[str, Any] = schema.get("properties") or {}
    lines = []
    for name, sub in properties.items():
        sub = sub if isinstance(sub, dict) else {}
        doc = doc_comment(str(sub.get("description", "")), indent, _tags(sub))
        optional = "" if name in required else "?"
        prefix = f"{indent}{property_key(name)}{optional}:"
        lines.append(f"{doc}{_fitted(prefix, _union(sub, ref_name, indent), indent)}\n")
    extra = schema.get("additionalProperties", True)
    if properties and extra is not False:
        # Declared properties must fit the index signature, so it stays `unknown`.
        lines.append(f"{indent}[key: string]: unknown;\n")
    return lines


def type_declaration(name: str, schema: dict[str, Any], ref_name: RefName) -> dict[str, Any]:
    """What the declaration templates place: an interface for an object, else an alias."""
    doc = doc_comment(str(schema.get("description", "")), "", _tags(schema))
    is_object = schema.get("type") == "object" or "properties" in schema
    lines = members(schema, ref_name, "  ") if is_object else []
    if lines:
        return dict(kind="interface", name=name, doc=doc, members=lines)
    declaration = _fitted(f"export type {name} =", _union(schema, ref_name, ""), "")
    return dict(kind="alias", name=name, doc=doc, declaration=declaration)
