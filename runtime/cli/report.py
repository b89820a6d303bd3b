"""The demo's summary: outcomes, time to settle, and the events seen on the bus."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from runtime.cli.orders import OrderRun

__all__ = ["percentile", "print_summary"]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def print_summary(
    console: Console, run: OrderRun, subjects: Counter[str] | None, *, gateway: str
) -> None:
    """Print the outcome table and the events table."""
    statuses = Counter(outcome.status for outcome in run.outcomes)
    count = len(run.outcomes)
    settled = count - statuses["unsettled"]
    times = [o.seconds * 1000 for o in run.outcomes if o.status != "unsettled"]
    console.print(f"[bold]Demo summary[/bold]: {count} orders through the gateway at {gateway}")
    table = Table()
    table.add_column("orders", style="bold")
    table.add_column("", justify="right")
    table.add_row("settled", f"{settled}/{count}")
    for status in ("confirmed", "cancelled", "rejected"):
        table.add_row(status, str(statuses[status]))
    for status, number in sorted(statuses.items()):
        if status not in ("confirmed", "cancelled", "rejected"):
            table.add_row(status, str(number))
    table.add_row("declined cards", str(sum(o.declined_card for o in run.outcomes)))
    table.add_section()
    table.add_row("time to settle p50", f"{percentile(times, 50):.0f} ms")
    table.add_row("time to settle p99", f"{percentile(times, 99):.0f} ms")
    table.add_row("time to settle max", f"{max(times, default=0.0):.0f} ms")
    table.add_row("wall time", f"{run.seconds:.1f} s")
    rate = settled / run.seconds if run.seconds else 0.0
    table.add_row("throughput", f"{rate:.1f} orders/s")
    console.print(table)
    if subjects is None:
        console.print("events seen: not counted (no NATS URL: set A4CO_NATS_URL)")
        return
    console.print(
        f"[bold]Events seen[/bold] on NATS during the demo: {sum(subjects.values())} "
        f"messages on {len(subjects)} subjects"
    )
    events = Table()
    events.add_column("subject")
    events.add_column("messages", justify="right")
    for subject, number in sorted(subjects.items(), key=lambda item: (-item[1], item[0])):
        events.add_row(subject, str(number))
    console.print(events)
