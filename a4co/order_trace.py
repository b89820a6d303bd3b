"""The trace of an order as a tree of hops, shared by `a4co trace` (text) and the catalog's
trace page (JSON from the static server), so both show the same tree.

An order's traces are those holding a consumer span whose CloudEvents subject is the order
id (every message of the order saga names its order as subject). Each trace becomes a tree:
every span under its parent (a span whose parent was not recorded is a root), children in
the order they started, each with its offset from the trace's start and its duration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.spans import SUBJECT_ATTRIBUTE, RecordedSpan, read_spans

__all__ = ["Hop", "TraceTree", "order_trace_trees", "order_traces", "trace_tree"]


@dataclass(frozen=True, slots=True)
class Hop:
    """One span in the tree: who ran it, what it was, when it began and how long it took."""

    service: str
    name: str
    offset_ns: int
    """From the start of the trace's first span."""
    duration_ns: int
    children: tuple[Hop, ...]

    def as_json(self) -> dict[str, Any]:
        """The hop and its children as plain JSON values (milliseconds)."""
        return {
            "service": self.service,
            "name": self.name,
            "offset_ms": _ms(self.offset_ns),
            "duration_ms": _ms(self.duration_ns),
            "children": [child.as_json() for child in self.children],
        }


@dataclass(frozen=True, slots=True)
class TraceTree:
    """One trace of an order: its id, size, total duration and root hops."""

    trace_id: str
    span_count: int
    duration_ns: int
    roots: tuple[Hop, ...]

    def as_json(self) -> dict[str, Any]:
        """The trace as plain JSON values (milliseconds), as the trace page reads it."""
        return {
            "trace_id": self.trace_id,
            "span_count": self.span_count,
            "duration_ms": _ms(self.duration_ns),
            "roots": [hop.as_json() for hop in self.roots],
        }


def _ms(nanoseconds: int) -> float:
    """Milliseconds with a microsecond's precision: what a person reads, stable in JSON."""
    return round(nanoseconds / 1e6, 3)


def order_traces(spans: Iterable[RecordedSpan], order_id: str) -> list[list[RecordedSpan]]:
    """The spans of every trace that touches the order, earliest trace first."""
    by_trace: dict[str, list[RecordedSpan]] = defaultdict(list)
    wanted: set[str] = set()
    for span in spans:
        by_trace[span.trace_id].append(span)
        if span.attributes.get(SUBJECT_ATTRIBUTE) == order_id:
            wanted.add(span.trace_id)
    found = [by_trace[t] for t in wanted]
    return sorted(found, key=lambda trace: min(s.start_ns for s in trace))


def trace_tree(spans: list[RecordedSpan]) -> TraceTree:
    """One trace's spans as a tree, each hop timed from the trace's start."""
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    known = {s.span_id for s in spans}
    children: dict[str | None, list[RecordedSpan]] = defaultdict(list)
    for span in spans:
        children[span.parent_id if span.parent_id in known else None].append(span)

    def hops(parent: str | None) -> tuple[Hop, ...]:
        return tuple(
            Hop(
                service=span.service,
                name=span.name,
                offset_ns=span.start_ns - start,
                duration_ns=span.end_ns - span.start_ns,
                children=hops(span.span_id),
            )
            for span in sorted(children[parent], key=lambda s: s.start_ns)
        )

    return TraceTree(spans[0].trace_id, len(spans), end - start, hops(None))


def order_trace_trees(path: Path, order_id: str) -> list[TraceTree]:
    """The trees of every recorded trace of the order in the spans file at `path`."""
    return [trace_tree(spans) for spans in order_traces(read_spans(path), order_id)]
