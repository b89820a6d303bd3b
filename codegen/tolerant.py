"""Tolerant readers, closed writers: which of a service's models ignore unknown fields.

The models of the messages a service receives, and of the schemas only they reach, ignore
fields they do not declare (`extra="ignore"`): a producer may add an optional field before
its subscribers are redeployed. The models of the messages it sends and of its REST bodies
stay closed (`extra="forbid"`, from the contracts' `additionalProperties: false`), so a
producer cannot emit what its contract does not say. A schema both sides reach (`Money` in
a received `OrderCreated` and in a `PlaceOrderRequest`) is one closed class; the bus reads
every received message with `extra="ignore"`, which pydantic applies at every depth
(`runtime.bus.Channel.read`), so it is ignored there too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codegen.bundle import Bundle
    from codegen.model import Service

__all__ = ["read_tolerantly", "tolerant_models"]

_DEF = "#/$defs/"
_CLOSED = r"(['\"])forbid\2"  # dcg writes 'forbid' before ruff formats it as "forbid"


def tolerant_models(bundle: Bundle, service: Service, messages: dict[str, str]) -> set[str]:
    """The definitions that only the messages `service` receives reach."""
    received = {messages[c.model_name] for op in service.receives for c in (op.channel, *op.older)}
    closed = {messages[op.channel.model_name] for op in service.sends}
    for endpoint in service.endpoints:
        bodies = [endpoint.request, *(r.body for r in endpoint.responses)]
        closed |= {bundle.add(body.schema) for body in bodies if body is not None}
    return _reached(bundle.defs, received) - _reached(bundle.defs, closed)


def read_tolerantly(source: str, names: Iterable[str]) -> str:
    """Generated model source with the closed classes among `names` made to ignore unknown
    fields (a class without `model_config` already does: pydantic's default)."""
    for name in sorted(names):
        source = re.sub(
            rf"(\nclass {name}\(BaseModel\):\n(?:[ ]{{4}}[^\n]*\n|\n)*?[ ]{{8}}extra=){_CLOSED}",
            r"\1\2ignore\2",
            source,
            count=1,
        )
    return source


def _reached(defs: dict[str, Any], roots: set[str]) -> set[str]:
    """`roots` and every definition their `$ref`s lead to."""
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(defs[name])
    return seen


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    here = [ref.removeprefix(_DEF)] if isinstance(ref, str) and ref.startswith(_DEF) else []
    skipped = ("examples", "example", "enum", "const", "default")
    return here + [n for key, value in node.items() if key not in skipped for n in _refs(value)]
