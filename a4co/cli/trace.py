"""`a4co trace ORDER_ID`: the saga of one order as a tree of spans across services.

It reads the spans the services appended to `<data_dir>/traces/spans.jsonl`
(`runtime/spans.py`) and prints each trace of the order as the tree `a4co.order_trace`
builds (the catalog's trace page shows the same one): every hop with its service, its
offset from the trace's start and its duration, children in the order they started. A
trace is recorded only when sampled (`A4CO_TRACE_RATIO`, 1 in 100 by default): start the
platform with `A4CO_TRACE_RATIO=1` to see every order.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from a4co.order_trace import Hop, order_traces, trace_tree
from runtime.errors import ConfigurationError
from runtime.spans import TRACE_FILE, RecordedSpan, read_spans

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


def render_tree(spans: list[RecordedSpan]) -> list[str]:
    """The trace's lines: a heading, then each hop under its parent, by start time."""
    tree = trace_tree(spans)
    lines = [f"trace {tree.trace_id}: {tree.span_count} spans, {_ms(tree.duration_ns)}"]

    def walk(hops: tuple[Hop, ...], depth: int) -> None:
        for hop in hops:
            offset = f"+{_ms(hop.offset_ns)}"
            lines.append(
                f"{offset:>12} {_ms(hop.duration_ns):>10}  {'  ' * depth}{hop.service}: {hop.name}"
            )
            walk(hop.children, depth + 1)

    walk(tree.roots, 0)
    return lines


def _ms(nanoseconds: int) -> str:
    return f"{nanoseconds / 1e6:.1f} ms"
