"""`a4co trace ORDER_ID`: the saga of one order as a tree of spans across services.

It reads the spans the services appended to `<data_dir>/traces/spans.jsonl`
(`runtime/spans.py`), finds the traces holding a consumer span whose CloudEvents subject
is the order id (every message of the order saga names its order as subject), and prints
each trace as a tree: every hop with its service, its offset from the trace's start and
its duration, children in the order they started. A trace is recorded only when sampled
(`A4CO_TRACE_RATIO`, 1 in 100 by default): start the platform with `A4CO_TRACE_RATIO=1` to
see every order.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterable

from rich.console import Console

from runtime.errors import ConfigurationError
from runtime.spans import SUBJECT_ATTRIBUTE, TRACE_FILE, RecordedSpan, read_spans

__all__ = ["add_parser", "order_traces", "render_tree", "run"]


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `trace`."""
    parser = commands.add_parser(
        "trace",
        parents=[common],
        help="an order's saga as a tree of spans across services, with each hop's time",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("order_id", help="the order's id (as placeOrder answered it)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the order's traces; ConfigurationError when none was recorded."""
    path = args.data_dir / TRACE_FILE
    traces = order_traces(read_spans(path), args.order_id)
    if not traces:
        raise ConfigurationError(
            f"no recorded trace names order {args.order_id} in {path}"
            f" (traces are sampled: start the platform with A4CO_TRACE_RATIO=1)"
        )
    for spans in traces:
        for line in render_tree(spans):
            console.print(line, markup=False, soft_wrap=True)
    return 0


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


def render_tree(spans: list[RecordedSpan]) -> list[str]:
    """The trace's lines: a heading, then each span under its parent, by start time."""
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    known = {s.span_id for s in spans}
    children: dict[str | None, list[RecordedSpan]] = defaultdict(list)
    for span in spans:
        children[span.parent_id if span.parent_id in known else None].append(span)
    heading = f"trace {spans[0].trace_id}: {len(spans)} spans, {_ms(end - start)}"
    lines = [heading]

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: s.start_ns):
            offset = f"+{_ms(span.start_ns - start)}"
            lines.append(
                f"{offset:>12} {_ms(span.end_ns - span.start_ns):>10}  "
                f"{'  ' * depth}{span.service}: {span.name}"
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return lines


def _ms(nanoseconds: int) -> str:
    return f"{nanoseconds / 1e6:.1f} ms"
