"""The demo's summary: outcomes, time to settle, what did not settle, and the events seen
on the bus."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from a4co.cli.orders import NOT_PLACED, OrderRun

__all__ = ["percentile", "print_summary"]

SHOWN_IDS = 20
"""Unsettled orders named one by one; past that, only counted."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def print_summary(
    console: Console,
    run: OrderRun,
    subjects: Counter[str] | None,
    *,
    gateway: str,
    requested: int | None = None,
) -> None:
    """Print the outcome table, the orders that did not settle, and the events table."""
    statuses = Counter(outcome.status for outcome in run.outcomes)
    count = len(run.outcomes)
    settled = sum(outcome.settled for outcome in run.outcomes)
    times = [o.seconds * 1000 for o in run.outcomes if o.settled]
    console.print(f"[bold]Demo summary[/bold]: {count} orders through the gateway at {gateway}")
    if requested is not None and count < requested:
        console.print(f"[yellow]the run ended early:[/yellow] {count} of {requested} orders ran")
    table = Table()
    table.add_column("orders", style="bold")
    table.add_column("", justify="right")
    table.add_row("placed", f"{count - statuses[NOT_PLACED]}/{count}")
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
    _print_unsettled(console, run)
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


def _print_unsettled(console: Console, run: OrderRun) -> None:
    """Name the orders that did not settle and say why, so they can be looked up."""
    unsettled = [o for o in run.outcomes if not o.settled and o.status != NOT_PLACED]
    if unsettled:
        ids = ", ".join(o.order_id for o in unsettled[:SHOWN_IDS])
        more = f" and {len(unsettled) - SHOWN_IDS} more" if len(unsettled) > SHOWN_IDS else ""
        console.print(
            f"[yellow]not settled[/yellow] ({len(unsettled)}): {ids}{more}", soft_wrap=True
        )
        errors = [o.error for o in unsettled if o.error]
        if errors:
            console.print(f"  last error: {errors[-1]}", markup=False, soft_wrap=True)
    failed = [o.error for o in run.outcomes if o.status == NOT_PLACED]
    if failed:
        console.print(f"[yellow]not placed[/yellow] ({len(failed)}); last error:", end=" ")
        console.print(failed[-1], markup=False, soft_wrap=True)
