"""Directional JSON-Schema compatibility: can a reader accept every instance a writer may send?

`compare(writer, reader)` walks both schemas side by side, following `$ref`s across files in
each side's workspace, and returns `Issue`s; no issue means compatible. What cannot be
decided (regular-expression inclusion, `not`, conditionals, unions that only a mix of
branches covers) is an issue at level WARN: nothing undecidable passes silently.

A tolerant reader (`tolerant=True`: the generated models of received messages) ignores the
fields it does not declare, so a field it lacks is no issue even where its schema says
`additionalProperties: false`: that keyword binds the writer only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from codegen.breaking.keywords import (
    Issue,
    Kind,
    Node,
    accepts_all,
    accepts_type,
    counts,
    enum,
    issue,
    names,
    number,
    obj,
    string,
    type_set,
    undecided,
    value_problems,
    value_set,
)
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace

__all__ = ["Issue", "Kind", "Schema", "compare"]


@dataclass(frozen=True, slots=True)
class Schema:
    """A schema at a place of a workspace (its `$ref`s resolve in that workspace)."""

    workspace: Workspace
    place: Ref


def compare(writer: Schema, reader: Schema, *, tolerant: bool = False) -> list[Issue]:
    """Every issue that keeps `reader` from accepting all that `writer` allows; a `tolerant`
    reader ignores undeclared fields instead of rejecting them."""
    walk = _Walk(writer.workspace, reader.workspace, tolerant)
    w = Node(*writer.workspace.resolve(writer.place))
    r = Node(*reader.workspace.resolve(reader.place))
    return list(dict.fromkeys(walk.compare(w, r, "")))


@dataclass
class _Walk:
    ws_w: Workspace
    ws_r: Workspace
    tolerant: bool
    active: set[tuple[Ref, Ref]] = field(default_factory=set)
    done: set[tuple[Ref, Ref]] = field(default_factory=set)

    def child(self, side: Literal["w", "r"], at: Node, *tokens: str | int) -> Node:
        """The resolved sub-schema at `tokens`, or an accept-all schema where it is absent."""
        ref = Ref(at.ref.file, join_pointer(at.ref.pointer, *tokens))
        node: Any = at.node
        for token in tokens:
            if not _has(node, token):
                return Node(ref, {})
            node = node[token]
        if isinstance(node, bool):
            return Node(ref, node)
        ws = self.ws_w if side == "w" else self.ws_r
        return Node(*ws.resolve(ref))

    def _fresh(self) -> _Walk:
        """A walk of its own (for one branch of a union), with the same reader."""
        return _Walk(self.ws_w, self.ws_r, self.tolerant)

    def compare(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        """Issues of one pair of sub-schemas; a pair met again inside itself is assumed fine."""
        key = (w.ref, r.ref)
        if key in self.active or key in self.done:
            return
        self.active.add(key)
        try:
            yield from self._compare(w, r, path)
        finally:
            self.active.discard(key)
            self.done.add(key)

    def _compare(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        if accepts_all(r.node) or w.node is False:
            return
        if r.node is False:
            yield issue("type", w, r, path, "the reader accepts nothing")
            return
        wn = w.node if isinstance(w.node, dict) else {}
        for key in ("anyOf", "oneOf"):
            if isinstance(wn.get(key), list):
                for i in range(len(wn[key])):
                    yield from self.compare(self.child("w", w, key, i), r, path)
                return
        if isinstance(wn.get("allOf"), list):
            yield from self._writer_all_of(w, r, path)
            return
        rn: dict[str, Any] = r.node
        for i in range(len(rn.get("allOf") or [])):
            yield from self.compare(w, self.child("r", r, "allOf", i), path)
        yield from undecided(w, r, path)
        types = type_set(wn)
        for t in sorted(types) if types is not None else [None]:
            yield from self._typed(w, r, path, t)

    def _writer_all_of(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        branches = [self.child("w", w, "allOf", i) for i in range(len(w.node["allOf"]))]
        results = [list(self._fresh().compare(b, r, path)) for b in branches]
        if len(results) == 1:
            yield from results[0]
        elif results and not all(results):
            return
        else:
            yield issue(
                "undecidable", w, r, path, "no single branch of the writer's allOf fits the reader"
            )

    def _typed(self, w: Node, r: Node, path: str, t: str | None) -> Iterator[Issue]:
        """Compare for one of the writer's types (`None`: the writer does not say)."""
        rn: dict[str, Any] = r.node
        if any(isinstance(rn.get(k), list) for k in ("anyOf", "oneOf")):
            yield from self._reader_union(w, r, path, t)
        accepted = type_set(rn)
        if accepted is not None and (t is None or not accepts_type(accepted, t)):
            sent = f"{t} values" if t else "values of any type"
            yield issue(
                "type",
                w,
                r,
                path,
                f"the writer may send {sent}, the reader accepts {names(accepted)}",
            )
            return
        values = value_set(w.node, t)
        yield from enum(w, r, path, values, t)
        if values is not None:
            for v in values:
                for reason in value_problems(v, rn):
                    yield issue("constraint", w, r, path, reason)
            return
        if t in (None, "string"):
            yield from string(w, r, path)
        if t in (None, "number", "integer"):
            yield from number(w, r, path, integer=t == "integer")
        if t in (None, "object"):
            yield from self._object(w, r, path)
        if t in (None, "array"):
            yield from self._array(w, r, path)

    def _reader_union(self, w: Node, r: Node, path: str, t: str | None) -> Iterator[Issue]:
        key = "anyOf" if isinstance(r.node.get("anyOf"), list) else "oneOf"
        branches = [self.child("r", r, key, i) for i in range(len(r.node[key]))]
        fitting = [
            b
            for b in branches
            if (types := type_set(b.node)) is None or (t is not None and accepts_type(types, t))
        ]
        if not fitting:
            yield issue(
                "type",
                w,
                r,
                path,
                f"no branch of the reader's {key} accepts {t or 'untyped'} values",
            )
            return
        results = [list(self._fresh().compare(w, b, path)) for b in fitting]
        clean = sum(1 for issues in results if not issues)
        if clean == 1 or (clean and key == "anyOf"):
            return
        if clean > 1:
            yield issue(
                "undecidable", w, r, path, "the writer's values may match several oneOf branches"
            )
        elif len(results) == 1:
            yield from results[0]
        else:
            yield issue(
                "undecidable", w, r, path, f"no single branch of the reader's {key} accepts it all"
            )

    def _object(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        wn, rn = obj(w.node), obj(r.node)
        w_props, r_props = wn.get("properties") or {}, rn.get("properties") or {}
        w_open, r_closed = wn.get("additionalProperties", True), rn.get("additionalProperties")
        rejects_unknown = r_closed is False and not self.tolerant
        for name in w_props:
            sub = _join(path, name)
            w_child = self.child("w", w, "properties", name)
            if name in r_props:
                yield from self.compare(w_child, self.child("r", r, "properties", name), sub)
            elif rejects_unknown:
                yield issue(
                    "field-unknown",
                    w_child,
                    Node(Ref(r.ref.file, join_pointer(r.ref.pointer, "properties")), {}),
                    sub,
                    f"field {name} may be sent but the reader does not declare it "
                    "and is closed (additionalProperties: false)",
                )
            elif isinstance(r_closed, dict):
                r_extra = self.child("r", r, "additionalProperties")
                yield from self.compare(w_child, r_extra, sub)
        w_required = set(wn.get("required") or [])
        for name in rn.get("required") or []:
            if name in w_required:
                continue
            kind: Kind = "field-optional" if name in w_props else "field-missing"
            why = "optional for the writer" if name in w_props else "not declared by the writer"
            place = Node(Ref(r.ref.file, join_pointer(r.ref.pointer, "required")), {})
            yield issue(kind, w, place, _join(path, name), f"field {name} is required but {why}")
        if w_open is not False:
            yield from self._open_writer(w, r, path)
        yield from counts(w, r, path, "minProperties", "maxProperties", "properties")

    def _open_writer(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        """A writer without `additionalProperties: false` may send any other field."""
        wn, rn = obj(w.node), obj(r.node)
        extra = self.child("w", w, "additionalProperties")
        if rn.get("additionalProperties") is False and not self.tolerant:
            yield issue(
                "field-unknown",
                w,
                r,
                path,
                "the writer may send undeclared fields and the reader is closed",
            )
            return
        if isinstance(rn.get("additionalProperties"), dict):
            yield from self.compare(extra, self.child("r", r, "additionalProperties"), path)
        for name in rn.get("properties") or {}:
            if name in (wn.get("properties") or {}):
                continue
            r_child = self.child("r", r, "properties", name)
            if extra.node == {} and not accepts_all(r_child.node):
                yield issue(
                    "undecidable",
                    w,
                    r_child,
                    _join(path, name),
                    f"the writer is open and may already send field {name} with any value",
                )
            elif extra.node != {}:
                yield from self.compare(extra, r_child, _join(path, name))

    def _array(self, w: Node, r: Node, path: str) -> Iterator[Issue]:
        if "items" in obj(r.node):
            w_items = self.child("w", w, "items")
            yield from self.compare(w_items, self.child("r", r, "items"), path + "[]")
        yield from counts(w, r, path, "minItems", "maxItems", "items")
        if obj(r.node).get("uniqueItems") and not obj(w.node).get("uniqueItems"):
            yield issue("constraint", w, r, path, "the reader requires unique items")


def _has(node: Any, token: str | int) -> bool:
    if isinstance(node, dict):
        return token in node
    return isinstance(node, list) and isinstance(token, int) and token < len(node)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
