"""The keywords of one pair of sub-schemas: types, values, strings, numbers and counts.

`compat` walks objects, arrays and unions; the checks here compare the scalar keywords of a
writer and a reader node and say, in one clause each, why the reader may reject the writer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from codegen.pytypes import INTEGER_FORMATS

if TYPE_CHECKING:
    from codegen.loader import Ref
    from codegen.rules import Level

__all__ = [
    "Issue",
    "Kind",
    "Node",
    "accepts_all",
    "accepts_type",
    "bound",
    "counts",
    "enum",
    "issue",
    "names",
    "number",
    "obj",
    "same",
    "string",
    "type_of",
    "type_set",
    "undecided",
    "value_problems",
    "value_set",
]

Kind = Literal[
    "type",  # a type the writer may send is not accepted
    "enum",  # a value the writer may send is not in the reader's enum or const
    "field-unknown",  # the writer may send a field a closed reader does not declare
    "field-missing",  # the reader requires a field the writer does not declare
    "field-optional",  # the reader requires a field the writer may omit
    "constraint",  # a length, bound, pattern, format or count is narrower for the reader
    "undecidable",  # the comparison cannot decide; always WARN
]

_ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "examples",
        "example",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "externalDocs",
        "$comment",
        "discriminator",
        "x-lint-ignore",
    }
)
_UNDECIDED = (
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "prefixItems",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
)


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason the reader may reject what the writer sends, placed in both schemas."""

    kind: Kind
    writer: Ref
    reader: Ref
    field: str
    reason: str
    level: Level = "ERR"


@dataclass(frozen=True, slots=True)
class Node:
    """A resolved sub-schema and the place it was found."""

    ref: Ref
    node: Any


def issue(kind: Kind, w: Node, r: Node, path: str, reason: str) -> Issue:
    """An issue between two nodes; undecidable ones are warnings."""
    level: Level = "WARN" if kind == "undecidable" else "ERR"
    return Issue(kind, w.ref, r.ref, path, reason, level)


def obj(node: Any) -> dict[str, Any]:
    """The node as a mapping (a boolean schema has no keywords)."""
    return node if isinstance(node, dict) else {}


def accepts_all(node: Any) -> bool:
    """Whether the schema is `true` or holds annotations only."""
    return node is True or (isinstance(node, dict) and set(node) <= _ANNOTATIONS)


def type_set(node: Any) -> frozenset[str] | None:
    """The types a schema allows, from `type` or else its `enum`/`const`; `None` = any."""
    node = obj(node)
    declared = node.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = value_set(node, None)
    return None if values is None else frozenset(type_of(v) for v in values)


def accepts_type(accepted: frozenset[str], t: str) -> bool:
    """Whether a reader allowing `accepted` takes values of type `t` (integers are numbers)."""
    return t in accepted or (t == "integer" and "number" in accepted)


def names(types: frozenset[str]) -> str:
    """Types as words for a sentence."""
    return " or ".join(sorted(types)) or "nothing"


def type_of(value: Any) -> str:
    """The JSON-Schema type of one JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def value_set(node: Any, t: str | None) -> list[Any] | None:
    """The finite set of values a schema allows (of type `t`), or `None` when unbounded."""
    node = obj(node)
    if "const" in node:
        values = [node["const"]]
    elif isinstance(node.get("enum"), list):
        values = list(node["enum"])
    else:
        return None
    return [v for v in values if t is None or accepts_type(frozenset({t}), type_of(v))]


def same(a: Any, b: Any) -> bool:
    """JSON equality: `1 == 1.0`, but `True != 1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def enum(w: Node, r: Node, path: str, values: list[Any] | None, t: str | None) -> Iterator[Issue]:
    """The reader's enum or const must hold every value the writer may send."""
    allowed = value_set(r.node, None)
    if allowed is None:
        return
    if values is None:
        sent = f"any {t}" if t else "any value"
        yield issue("enum", w, r, path, f"the writer may send {sent}, the reader only {allowed}")
        return
    missing = [v for v in values if not any(same(v, a) for a in allowed)]
    if missing:
        shown = ", ".join(repr(v) for v in missing)
        yield issue("enum", w, r, path, f"the reader does not accept {shown}")


def value_problems(value: Any, rn: dict[str, Any]) -> Iterator[str]:
    """Why the reader's scalar keywords reject one known value of the writer."""
    if isinstance(value, str):
        if len(value) < rn.get("minLength", 0) or len(value) > rn.get("maxLength", math.inf):
            yield f"the reader's length bounds reject {value!r}"
        if "pattern" in rn and not re.search(rn["pattern"], value):
            yield f"the reader's pattern rejects {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        lower, upper = bound(rn, "min", integer=False), bound(rn, "max", integer=False)
        d = Decimal(str(value))
        if lower and (d < lower[0] or (d == lower[0] and lower[1])):
            yield f"the reader's minimum rejects {value!r}"
        if upper and (d > upper[0] or (d == upper[0] and upper[1])):
            yield f"the reader's maximum rejects {value!r}"
        if "multipleOf" in rn and d % Decimal(str(rn["multipleOf"])) != 0:
            yield f"the reader's multipleOf rejects {value!r}"


def string(w: Node, r: Node, path: str) -> Iterator[Issue]:
    """String lengths, pattern and format."""
    wn, rn = obj(w.node), obj(r.node)
    yield from counts(w, r, path, "minLength", "maxLength", "characters")
    if "pattern" in rn and wn.get("pattern") != rn["pattern"]:
        if "pattern" not in wn:
            yield issue("constraint", w, r, path, f"the reader requires pattern {rn['pattern']}")
        else:
            yield issue(
                "undecidable",
                w,
                r,
                path,
                f"the reader's pattern is {rn['pattern']}, the writer's {wn['pattern']}; "
                "regular-expression inclusion is not decided",
            )
    if "format" in rn and wn.get("format") != rn["format"]:
        sent = f"format {wn['format']}" if "format" in wn else "strings of any format"
        yield issue(
            "constraint",
            w,
            r,
            path,
            f"the reader requires format {rn['format']}, the writer sends {sent}",
        )


def counts(w: Node, r: Node, path: str, low: str, high: str, what: str) -> Iterator[Issue]:
    """A lower and an upper count (lengths, items, properties) must not narrow."""
    wn, rn = obj(w.node), obj(r.node)
    if rn.get(low, 0) > wn.get(low, 0):
        yield issue(
            "constraint",
            w,
            r,
            path,
            f"the reader's {low} is {rn[low]}, the writer's {wn.get(low, 0)}",
        )
    if high in rn and (high not in wn or wn[high] > rn[high]):
        was = wn.get(high, "unbounded")
        yield issue(
            "constraint", w, r, path, f"the reader's {high} is {rn[high]}, the writer's {was}"
        )


def bound(node: dict[str, Any], side: str, *, integer: bool) -> tuple[Decimal, bool] | None:
    """The tightest `min`/`max` bound as (value, exclusive); integers made inclusive."""
    plain, exclusive = node.get(f"{side}imum"), node.get(f"exclusive{side.title()}imum")
    found: list[tuple[Decimal, bool]] = []
    if node.get("format") in INTEGER_FORMATS:  # int32 and int64 are bounds of their own
        found.append((Decimal(INTEGER_FORMATS[node["format"]][side == "max"]), False))
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        found.append((Decimal(str(plain)), exclusive is True))
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        found.append((Decimal(str(exclusive)), True))
    if not found:
        return None
    if side == "min":
        value, excl = max(found, key=lambda b: (b[0], b[1]))
    else:
        value, excl = min(found, key=lambda b: (b[0], not b[1]))
    if integer:
        if side == "min":
            value = Decimal(math.floor(value) + 1) if excl else Decimal(math.ceil(value))
        else:
            value = Decimal(math.ceil(value) - 1) if excl else Decimal(math.floor(value))
        excl = False
    return value, excl


def number(w: Node, r: Node, path: str, *, integer: bool) -> Iterator[Issue]:
    """Numeric bounds, exclusive or not, and multipleOf."""
    wn, rn = obj(w.node), obj(r.node)
    for side, word in (("min", "minimum"), ("max", "maximum")):
        rb = bound(rn, side, integer=integer)
        wb = bound(wn, side, integer=integer)
        if rb is None:
            continue
        implicit = wb is None and integer
        if implicit:
            # Every integer of the platform is an int64 (PostgreSQL's bigint, the models'
            # bound of an `int64` format): stating that format narrows nothing.
            wb = (Decimal(INTEGER_FORMATS["int64"][side == "max"]), False)
        tighter = (
            wb is None
            or (wb[0] < rb[0] if side == "min" else wb[0] > rb[0])
            or (wb[0] == rb[0] and rb[1] and not wb[1])
        )
        if tighter:
            was = (
                "unbounded" if wb is None or implicit else f"{'exclusive ' if wb[1] else ''}{wb[0]}"
            )
            now = f"{'exclusive ' if rb[1] else ''}{rb[0]}"
            yield issue(
                "constraint", w, r, path, f"the reader's {word} is {now}, the writer's {was}"
            )
    if "multipleOf" in rn:
        step = wn.get("multipleOf", 1 if integer else None)
        if step is None or Decimal(str(step)) % Decimal(str(rn["multipleOf"])) != 0:
            yield issue(
                "constraint", w, r, path, f"the reader requires multiples of {rn['multipleOf']}"
            )


def undecided(w: Node, r: Node, path: str) -> Iterator[Issue]:
    """Reader keywords this module does not compare: a warning unless equal to the writer's."""
    wn, rn = obj(w.node), obj(r.node)
    for key in _UNDECIDED:
        if key in rn and wn.get(key) != rn[key]:
            yield issue(
                "undecidable", w, r, path, f"the reader's {key} is not compared; check it by hand"
            )
