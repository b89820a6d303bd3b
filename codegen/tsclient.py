"""The methods of the TypeScript clients, computed from the OpenAPI operations.

One method per operation, named after its `operationId` in camelCase: path parameters come
first (wire names, URI-encoded into the path), then the JSON body, then one object of query
parameters typed by a `<OperationId>Query` interface. A `text/event-stream` answer gives a
method that follows the stream (`onEvent`, `StreamOptions`) instead of one that returns JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codegen.bundle import Bundle
from codegen.errors import ContractError, Finding
from codegen.loader import Ref, Workspace, join_pointer
from codegen.model import Endpoint
from codegen.naming import lower_camel
from codegen.tstypes import doc_comment, members, ts_type

__all__ = ["DEFS", "WIDTH", "method_view", "ref_name", "refs"]

DEFS = "#/$defs/"
WIDTH = 96
_KEPT = ("examples", "example", "enum", "const", "default")
_RESERVED = frozenset(
    (  # noqa: SIM905 (one paragraph of words reads better than fifty lines)
        "break case catch class const continue debugger default delete do else enum export "
        "extends false finally for function if import in instanceof new null return super "
        "switch this throw true try typeof var void while with yield let static implements "
        "interface package private protected public await"
    ).split()
)


def ref_name(ref: str) -> str:
    """The type name a bundle `$ref` (`#/$defs/Name`) points to."""
    return ref.removeprefix(DEFS)


def refs(node: Any) -> set[str]:
    """Names of the bundle definitions a schema refers to directly."""
    if isinstance(node, list):
        return {name for item in node for name in refs(item)}
    if not isinstance(node, dict):
        return set()
    found = {ref_name(node["$ref"])} if isinstance(node.get("$ref"), str) else set()
    for key, value in node.items():
        if key not in _KEPT:
            found |= refs(value)
    return found


def method_view(workspace: Workspace, bundle: Bundle, e: Endpoint) -> dict[str, Any]:
    """What the client template places for one operation, and the types it names (`roots`)."""
    params = _parameters(workspace, bundle, e)
    path_params = [p for p in params if p["location"] == "path"]
    roots = {r for p in params for r in refs(p["schema"])}
    signature = [f"{p['identifier']}: {ts_type(p['schema'], ref_name)}" for p in path_params]
    tags = [f"@param {p['identifier']} {p['description']}".rstrip() for p in path_params]
    sent = []
    if e.request is not None:
        body = bundle.add(e.request.schema)
        roots.add(body)
        signature.append(f"body: {body}")
        sent.append("body")
    query = _query(bundle, e, [p for p in params if p["location"] == "query"])
    if query is not None:
        signature.append(query.pop("parameter"))
        sent.append("query")
    name = lower_camel(e.operation_id)
    stream = e.success.content_type == "text/event-stream"
    if stream:
        signature += ["onEvent: (event: ServerSentEvent) => void", "options: StreamOptions = {}"]
        returns, head = "void", "this.stream"
        arguments = [_path(e.path), "query" if query else "undefined", "onEvent", "options"]
    else:
        returns = bundle.add(e.success.body.schema) if e.success.body else "void"
        roots |= {returns} if e.success.body else set()
        head = f"this.call<{returns}>"
        arguments = [json.dumps(e.method), _path(e.path)]
        arguments += [f"{{ {', '.join(sent)} }}"] if sent else []
    if e.success.description:
        tags.append(f"@returns {' '.join(e.success.description.split())}")
    text = "\n\n".join(t for t in (e.summary, e.description) if t)
    return dict(
        name=name,
        doc=doc_comment(text, "  ", tuple(tags)),
        params=_listed(signature, "  ", len(name) + len(returns) + 15),
        returns=returns,
        call=f"{head}({_listed(arguments, '    ', len(head) + 10)})",
        query=query,
        stream=stream,
        roots=roots,
    )


def _query(bundle: Bundle, e: Endpoint, params: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `<OperationId>Query` interface of an operation's query parameters, if it has any."""
    if not params:
        return None
    name = e.operation_id[:1].upper() + e.operation_id[1:] + "Query"
    if name in bundle.defs:
        raise ContractError(
            Finding(
                e.place.file,
                e.place.pointer,
                f"the schema name {name!r} clashes with the query parameters of "
                f"{e.operation_id}; rename the schema",
                "SCHEMA_NAME_CLASH",
            )
        )
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": [p["name"] for p in params if p["required"]],
        "properties": {p["name"]: p["schema"] for p in params},
    }
    default = "" if schema["required"] else " = {}"
    return dict(
        name=name,
        doc=doc_comment(f"Query parameters of `{lower_camel(e.operation_id)}`."),
        members=members(schema, ref_name, "  "),
        parameter=f"query: {name}{default}",
    )


def _parameters(workspace: Workspace, bundle: Bundle, e: Endpoint) -> list[dict[str, Any]]:
    """Each parameter's name, identifier, place, required flag and schema (bundle `$ref`s)."""
    out = []
    for i, param in enumerate(e.parameters):
        place, raw = workspace.resolve(
            Ref(e.place.file, join_pointer(e.place.pointer, "parameters", i))
        )
        schema = _named(workspace, bundle, raw.get("schema") or {}, place)
        if param.description:
            schema = {**schema, "description": param.description}
        out.append(
            dict(
                name=param.name,
                identifier=_identifier(param.name),
                description=param.description,
                location=param.location,
                required=param.required,
                schema=schema,
            )
        )
    return out


def _named(workspace: Workspace, bundle: Bundle, node: Any, here: Ref) -> Any:
    """A parameter schema with its `$ref`s added to the bundle and pointing into it."""
    if isinstance(node, list):
        return [_named(workspace, bundle, item, here) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        name = bundle.add(workspace.target_of(node["$ref"], here))
        return {**node, "$ref": f"{DEFS}{name}"}
    return {k: v if k in _KEPT else _named(workspace, bundle, v, here) for k, v in node.items()}


def _identifier(name: str) -> str:
    """A JavaScript identifier for a parameter's wire name (kept when it is one)."""
    text = re.sub(r"\W", "_", name)
    return f"{text}_" if text in _RESERVED or text[:1].isdigit() else text


def _listed(items: list[str], indent: str, taken: int) -> str:
    """Items on one line, or one per line (trailing commas) when the line would be too long."""
    inline = ", ".join(items)
    if taken + len(indent) + len(inline) <= WIDTH:
        return inline
    return "".join(f"\n{indent}  {item}," for item in items) + f"\n{indent}"


def _path(path: str) -> str:
    """The path as a JavaScript expression, its parameters URI-encoded."""
    if "{" not in path:
        return json.dumps(path)
    encoded = re.sub(
        r"\{([^}]+)\}", lambda m: f"${{encodeURIComponent({_identifier(m[1])})}}", path
    )
    return f"`{encoded}`"
