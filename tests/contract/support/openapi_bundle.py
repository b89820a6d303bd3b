"""One self-contained OpenAPI document per contract, for tools that cannot follow files.

Schemas reached through `$ref` (local or in `schemas/*.yaml`, `asyncapi/*.yaml`) become
`components/schemas/<Name>`, named as the codegen names them (`codegen.bundle.Bundle`);
other external objects (problem responses, parameters) are inlined where they are used.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from codegen.bundle import Bundle
from codegen.loader import Ref, Workspace, join_pointer

__all__ = ["CONTRACTS", "bundle_openapi", "openapi_names"]

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"
_SCHEMA_KEYS = ("schema",)


def openapi_names(contracts: Path = CONTRACTS) -> list[str]:
    """The services with an OpenAPI document, sorted."""
    return sorted(p.stem for p in (contracts / "openapi").glob("*.yaml"))


def bundle_openapi(name: str, contracts: Path = CONTRACTS) -> dict[str, Any]:
    """The OpenAPI document of service `name` with every `$ref` made local."""
    workspace = Workspace(contracts)
    file = f"{contracts.name}/openapi/{name}.yaml"
    document = copy.deepcopy(workspace.document(file))
    bundle = Bundle(workspace)
    components = document.get("components") or {}
    rest = {k: v for k, v in document.items() if k != "components"}
    out = _rewrite(workspace, bundle, rest, Ref(file, ""), in_schema=False)
    kept = {
        key: _rewrite(workspace, bundle, value, Ref(file, join_pointer("/components", key)), False)
        for key, value in components.items()
        if key != "schemas"
    }
    # Rewrite local components/schemas too, so ones only reached from other schemas exist.
    for schema_name in components.get("schemas") or {}:
        bundle.add(Ref(file, join_pointer("/components/schemas", schema_name)))
    text = json.dumps(bundle.defs).replace('"#/$defs/', '"#/components/schemas/')
    kept["schemas"] = json.loads(text)
    out["components"] = kept
    return out


def _rewrite(workspace: Workspace, bundle: Bundle, node: Any, here: Ref, in_schema: bool) -> Any:
    if isinstance(node, list):
        return [
            _rewrite(
                workspace, bundle, item, Ref(here.file, join_pointer(here.pointer, i)), in_schema
            )
            for i, item in enumerate(node)
        ]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = workspace.target_of(ref, here)
        if in_schema:
            name = bundle.add(target)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {"$ref": f"#/components/schemas/{name}", **siblings}
        if not ref.startswith("#"):
            final, value = workspace.resolve(target)
            return _rewrite(workspace, bundle, copy.deepcopy(value), final, in_schema)
        return dict(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "examples", "enum", "const", "default") and in_schema:
            out[key] = value
            continue
        if key == "examples" or key == "example":
            # Media-type examples: values are data, only `$ref`s to components are rewritten.
            out[key] = (
                _rewrite(workspace, bundle, value, here, False) if key == "examples" else value
            )
            continue
        child = Ref(here.file, join_pointer(here.pointer, key))
        out[key] = _rewrite(workspace, bundle, value, child, in_schema or key in _SCHEMA_KEYS)
    return out
