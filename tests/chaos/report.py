"""The table a fault scenario prints: the load offered and carried, the ledger, the recovery."""

from __future__ import annotations

from collections import Counter

from tests.chaos.burst import BurstResult
from tests.chaos.ledger import Ledger, recovery

Row = tuple[str, str]


def table(title: str, fault: str, burst: BurstResult, ledger: Ledger) -> str:
    """A few aligned lines, one fact each, headed by the scenario's title."""
    rows = [*_load(burst, ledger), *_ledger(ledger), ("fault", fault), *_recovery(burst, ledger)]
    width = max(len(name) for name, _ in rows)
    lines = [f"== chaos: {title} =="]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def _load(burst: BurstResult, ledger: Ledger) -> list[Row]:
    """What was offered, sent, accepted and carried."""
    settled = [s for s in ledger.orders.values() if s.status == "confirmed"]
    carried = _per_second(len(settled), [s.settled_at for s in settled], burst)
    count = len(burst.placements)
    return [
        ("offered", f"{burst.rate:g} orders/s for {burst.seconds:g} s ({count} POSTs)"),
        ("sent", f"{burst.achieved_rate:.1f} POSTs/s (over {burst.sending_seconds:.1f} s)"),
        ("accepted / refused", f"{len(burst.accepted)} / {len(burst.refused)}{_why(burst)}"),
        ("first refusal", burst.refused[0].error if burst.refused else "none"),
        ("carried", f"{carried:.1f} confirmed/s (first POST to last confirmation)"),
    ]


def _ledger(ledger: Ledger) -> list[Row]:
    """How the orders ended, and each effect counted."""
    statuses = Counter(s.status for s in ledger.orders.values())
    reasons = Counter(s.reason for s in ledger.orders.values() if s.reason)
    doubled, missing = ledger.doubled(), ledger.missing()
    return [
        ("in the database", f"{len(ledger.orders)} orders ({len(ledger.unknown)} without a 201)"),
        ("statuses", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none"),
        ("cancel reasons", ", ".join(f"{k} {v}" for k, v in reasons.items()) or "none"),
        ("lost", str(len(ledger.lost))),
        ("doubled", f"{sum(doubled.values())} ({_by_effect(doubled)})"),
        ("missing effects", f"{sum(missing.values())} ({_by_effect(missing)})"),
        (
            "stock",
            f"{ledger.stock_moved} units moved for {len(ledger.confirmed)} confirmed, "
            f"{ledger.reserved} still reserved",
        ),
    ]


def _recovery(burst: BurstResult, ledger: Ledger) -> list[Row]:
    """How long orders took to settle, and how long after the fault they did again."""
    figures = recovery(burst, ledger)
    ended = burst.sending_seconds - (burst.fault_at - _first_sent(burst))
    return [
        (
            "settle p50 / p99 / max",
            f"{figures.p50_settle:.2f} / {figures.p99_settle:.2f} / {figures.worst_settle:.2f} s",
        ),
        (
            "recovery",
            f"an order placed after the fault settled {_secs(figures.first_after_fault)} after it;"
            f" all settled {_secs(figures.drained)} after it (the burst ended {ended:.1f} s after)",
        ),
    ]


def _first_sent(burst: BurstResult) -> float:
    return min((p.sent_at for p in burst.placements), default=burst.fault_at)


def _per_second(count: int, ends: list[float], burst: BurstResult) -> float:
    if not ends:
        return 0.0
    return count / max(max(ends) - _first_sent(burst), 1e-9)


def _why(burst: BurstResult) -> str:
    errors = Counter(p.error.split(":", 1)[0] for p in burst.refused)
    return f" ({', '.join(f'{k} x{v}' for k, v in errors.most_common())})" if errors else ""


def _by_effect(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _secs(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"
