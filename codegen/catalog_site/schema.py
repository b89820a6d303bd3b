"""Field tables of a bundled JSON Schema, for the event catalog's message pages.

A `$ref` to `#/$defs/Name` becomes a link to the `def-Name` section of the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

__all__ = ["Definition", "definitions", "field_rows", "json_text", "type_html"]

_DEFS = "#/$defs/"


def _code(text: str) -> Markup:
    return Markup("<code>{}</code>").format(text)


def type_html(node: Any) -> Markup:
    """A schema's type as short HTML: `string (uuid)`, `array of Money`, `one of: a | b`."""
    if not isinstance(node, dict):
        return _code("any")
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        name = ref.removeprefix(_DEFS)
        return Markup('<a href="#def-{0}"><code>{0}</code></a>').format(name)
    if "enum" in node:
        return Markup("one of: ") + Markup(" | ").join(_code(json_text(v)) for v in node["enum"])
    if "const" in node:
        return Markup("always ") + _code(json_text(node["const"]))
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in node:
            joiner = Markup(" & ") if combinator == "allOf" else Markup(" | ")
            return joiner.join(type_html(n) for n in node[combinator])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return Markup(" | ").join(type_html({**node, "type": k}) for k in kind)
    if kind == "array":
        return Markup("array of ") + type_html(node.get("items"))
    text = _code(str(kind))
    if "format" in node:
        text += Markup(" ({})").format(node["format"])
    return text


def json_text(value: Any) -> str:
    """A scalar as JSON writes it (strings bare)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _description(node: Any, defs: dict[str, Any]) -> str:
    if not isinstance(node, dict):
        return ""
    if node.get("description"):
        return str(node["description"])
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        return str(defs.get(ref.removeprefix(_DEFS), {}).get("description", ""))
    if node.get("type") == "array":
        return _description(node.get("items"), defs)
    return ""


def field_rows(schema: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """One row per property: name, type, required, description."""
    required = set(schema.get("required") or [])
    return [
        (
            "",
            [
                _code(name),
                type_html(node),
                "yes" if name in required else "no",
                _description(node, defs),
            ],
        )
        for name, node in (schema.get("properties") or {}).items()
    ]


@dataclass(frozen=True, slots=True)
class Definition:
    """A referenced schema's section: its fields when it is an object, else its type."""

    name: str
    description: str
    rows: list[tuple[str, list[Any]]]
    type: Markup

    @property
    def anchor(self) -> str:
        """The section's id, which `type_html` links to."""
        return f"def-{self.name}"


def definitions(defs: dict[str, Any]) -> list[Definition]:
    """A section per referenced schema, by name."""
    return [
        Definition(
            name=name,
            description=str(defs[name].get("description", "")),
            rows=field_rows(defs[name], defs),
            type=type_html(defs[name]),
        )
        for name in sorted(defs)
    ]
