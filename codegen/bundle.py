"""Bundle schemas scattered over contract files into one JSON Schema with named `$defs`.

Every `$ref` to a named schema becomes `#/$defs/<Name>`, where the name is the last token of
the pointer (`common.yaml#/Money` -> `Money`). The bundle feeds example validation and
datamodel-code-generator, so class names come from the contracts' own schema names.
"""

from __future__ import annotations

from typing import Any

from codegen.errors import ContractError, Finding
from codegen.loader import Ref, Workspace, join_pointer

__all__ = ["Bundle"]


class Bundle:
    """Named schemas collected from the workspace, ready to be written as `$defs`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._places: dict[str, Ref] = {}
        self.defs: dict[str, Any] = {}

    def add(self, place: Ref, name: str | None = None) -> str:
        """Add the schema at `place` (following `$ref`s) under `name`; return the name."""
        final, schema = self._ws.resolve(place)
        name = name or final.name
        known = self._places.get(name)
        if known == final:
            return name
        if known is not None:
            raise ContractError(
                Finding(
                    final.file,
                    final.pointer,
                    f"schema name '{name}' is already used by {known.file}#{known.pointer}; "
                    "rename one of them",
                    "SCHEMA_NAME_CLASH",
                )
            )
        self._places[name] = final
        self.defs[name] = {}
        self.defs[name] = self._rewrite(schema, final)
        return name

    def places(self) -> dict[str, Ref]:
        """Where each definition was found."""
        return dict(self._places)

    def schema_for(self, name: str) -> dict[str, Any]:
        """A self-contained JSON Schema whose root is the named definition."""
        return {"$ref": f"#/$defs/{name}", "$defs": self.defs}

    def document(self) -> dict[str, Any]:
        """All definitions, sorted by name, as one JSON Schema document."""
        return {"$defs": {k: self.defs[k] for k in sorted(self.defs)}}

    def _rewrite(self, node: Any, here: Ref) -> Any:
        if isinstance(node, list):
            return [
                self._rewrite(item, Ref(here.file, join_pointer(here.pointer, i)))
                for i, item in enumerate(node)
            ]
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("$ref"), str):
            name = self.add(self._ws.target_of(node["$ref"], here))
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {"$ref": f"#/$defs/{name}", **siblings}
        return {
            key: value
            if key in ("examples", "example", "enum", "const", "default")
            else self._rewrite(value, Ref(here.file, join_pointer(here.pointer, key)))
            for key, value in node.items()
        }
