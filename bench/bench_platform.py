"""Benchmark of the whole platform: orders offered through the gateway at fixed rates.

Starts the platform as `make run` does (all 18 services; embedded NATS, PostgreSQL and
Redis in a temporary folder, or the servers named by A4CO_NATS_URL, A4CO_DATABASE_URL and
A4CO_REDIS_URL), makes the demo's cast through the gateway (a verified artisan, a product,
customers with tokens), then offers orders open loop at each rate: each
`POST /api/order/orders` leaves on its schedule whatever the answers, one in ten paying
with a declined card. An order settles when its outcome event is seen on NATS
(`order.confirmed.v1`, or `order.cancelled.v1`, which also ends a rejected order).

Per rate: confirmed/s, POST -> settled p50/p99/max, and per confirmed order (the cost of the
cancelled ones included) the CPU of every process of the platform, the bus messages per
subject, the deliveries per durable and PostgreSQL's commits and rows, each less what the
idle platform does meanwhile. Then the knee: the highest rate whose p99 meets the target
for commands (an order not settled, or not accepted, counts as infinitely late). Orders go
out with aiohttp, not httpx (see bench_saga.py). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_platform.py [--rates 10,20,30,40,60,80] [--seconds 20]
        [--runs 1] [--customers 32] [--idle-seconds 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from platform_probe import (
    COMMAND_P99_TARGET,
    CpuReading,
    Probe,
    RateResult,
    Snapshot,
    find_processes,
    growth,
    knee,
    net_rates,
    print_rate,
    print_run,
    subtract_idle,
)

from a4co.cli.bus import nats_connection, postgres_connection
from a4co.cli.cast import STOCK, Cast, prepare_cast
from a4co.cli.gateway import Gateway
from a4co.cli.orders import declined, place_orders
from a4co.cli.report import percentile
from a4co.cli.signals import StopRequestedError, ignore_stop_signals, raise_on_stop_signals
from a4co.cli.watch import OUTCOMES, BusWatch
from a4co.infra import DATABASE_URL_ENV, NATS_URL_ENV, REDIS_URL_ENV
from a4co.launcher import DEFAULT_SERVICES, Platform
from a4co.launcher.platform import BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN

GATEWAY_LIMITS = {
    "A4CO_GATEWAY_RATE_LIMIT": "100000/second",
    "A4CO_GATEWAY_TOKEN_RATE_LIMIT": "100000/minute",
}
"""Far above any rate here, so that the gateway's limits (100/s, 20/min) never throttle."""
DECLINE_RATE = 0.1
WARMUP_ORDERS = 10
PG_STATS_SETTLE = 11.0
"""Seconds to wait before reading pg_stat_database: since PostgreSQL 15 a backend flushes
its counts at most once a second, and one that goes idle within that second keeps them for
up to 10 s more (PGSTAT_IDLE_INTERVAL). Also the pause between two rates."""
DRAIN_TIMEOUT = 30.0


class OutcomeWatch(BusWatch):
    """BusWatch on the outcome subjects only: its `>` would add a copy of every message and
    delivery to the work of NATS and of the load generator, both of which are measured."""

    def __init__(self) -> None:
        super().__init__()
        self._outcome_subscriptions: list[Subscription] = []

    async def start(self, nc: Client) -> None:
        """Subscribe to the outcome subjects."""
        for subject in OUTCOMES:
            self._outcome_subscriptions.append(
                await nc.subscribe(subject, cb=self._on_message, pending_msgs_limit=-1)
            )

    async def stop(self) -> None:
        """Unsubscribe."""
        for subscription in self._outcome_subscriptions:
            await subscription.unsubscribe()
        self._outcome_subscriptions.clear()


@dataclass
class Offer:
    """The orders offered at one rate: each accepted order's send time, and every answer."""

    sent: dict[str, float] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    first: float = 0.0


@dataclass
class Bench:
    """What every rate needs: the gateway, the cast, the outcome watch, the counters."""

    args: argparse.Namespace
    platform: Platform
    gateway: Gateway
    session: aiohttp.ClientSession
    watch: OutcomeWatch
    probe: Probe
    cast: Cast
    idle: dict[str, dict[str, float]] = field(default_factory=dict)
    idle_lag: int = 0


async def offer_orders(bench: Bench, rate: float, count: int) -> Offer:
    """Start POST number i at i / rate seconds, whatever the earlier ones answered."""
    url = f"{bench.platform.urls['gateway']}/api/order/orders"
    cast, offer = bench.cast, Offer()
    requests = []
    for index in range(count):
        customer = cast.customers[index % len(cast.customers)]
        body = {
            "customer_id": customer.user_id,
            "items": [{"product_id": cast.product_id, "quantity": 1}],
            "delivery": {"method": "pickup"},
            "card_token": "tok_declined" if declined(index, DECLINE_RATE) else "tok_visa_ok",
        }
        requests.append((body, {"Authorization": f"Bearer {customer.token}"}))
    tasks = []
    offer.first = time.perf_counter()
    for index, (body, headers) in enumerate(requests):
        delay = offer.first + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_post(bench.session, url, body, headers, offer)))
    await asyncio.gather(*tasks)
    return offer


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    offer: Offer,
) -> None:
    began = time.perf_counter()
    try:
        async with session.post(url, json=body, headers=headers) as response:
            offer.answers[str(response.status)] += 1
            if response.status == 201:
                offer.sent[str((await response.json())["order_id"])] = began
            else:
                await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        offer.answers[type(exc).__name__] += 1


async def settle(watch: OutcomeWatch, offer: Offer, timeout: float) -> None:
    """Wait until every accepted order's outcome was seen, or `timeout` seconds pass."""
    deadline = time.perf_counter() + timeout
    pending = set(offer.sent)
    while pending and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        pending = {order for order in pending if watch.outcome(order) is None}


async def drain(probe: Probe, baseline: int) -> bool:
    """Wait until no durable has more in flight than when idle (the follow-up events)."""
    deadline = time.perf_counter() + DRAIN_TIMEOUT
    while await probe.lag() > baseline:
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(0.25)
    return True


@dataclass(frozen=True)
class Measured:
    """What one rate left: the orders, the CPU window and the counters around it."""

    offer: Offer
    cpu: tuple[CpuReading, CpuReading]
    counters: tuple[Snapshot, Snapshot]
    drained: bool


async def run_rate(bench: Bench, rate: float) -> RateResult:
    """Offer `rate` orders/s for `--seconds`; measure until they settled and the bus drained.

    The CPU window runs from the first POST until the follow-up events are handled too; the
    bus and PostgreSQL counters are read again once PostgreSQL's statistics caught up.
    """
    count = max(1, round(rate * bench.args.seconds))
    await refresh_cast(bench, count)
    before = await bench.probe.snapshot()
    cpu_start = bench.probe.cpu()
    offer = await offer_orders(bench, rate, count)
    await settle(bench.watch, offer, bench.args.settle_timeout)
    drained = await drain(bench.probe, bench.idle_lag)
    cpu_end = bench.probe.cpu()
    await asyncio.sleep(PG_STATS_SETTLE)
    after = await bench.probe.snapshot()
    return figures(bench, rate, Measured(offer, (cpu_start, cpu_end), (before, after), drained))


def figures(bench: Bench, rate: float, measured: Measured) -> RateResult:
    """The rate's latencies, and its costs per confirmed order less the idle platform's."""
    offer, (cpu_start, cpu_end) = measured.offer, measured.cpu
    before, after = measured.counters
    outcomes = {order: bench.watch.outcome(order) for order in offer.sent}
    seen = {order: outcome for order, outcome in outcomes.items() if outcome is not None}
    confirmed = sum(subject == "order.confirmed.v1" for _, subject in seen.values())
    settled = [seen[order][0] - began for order, began in offer.sent.items() if order in seen]
    offered = max(1, round(rate * bench.args.seconds))
    late = settled + [math.inf] * (offered - len(settled))  # unsettled or refused: never
    last = max((at for at, _ in seen.values()), default=offer.first)
    window = cpu_end.at - cpu_start.at
    counted = after.at - before.at

    def per_order(grown: dict[str, float], idle: str, seconds: float) -> dict[str, float]:
        net = subtract_idle(grown, bench.idle[idle], seconds)
        return {key: value / max(1, confirmed) for key, value in net.items()}

    cpu_grown = growth(cpu_start.groups, cpu_end.groups)
    platform, own = sum(cpu_grown.values()), cpu_end.own - cpu_start.own
    cpu = per_order(cpu_grown, "cpu", window)
    return RateResult(
        rate=rate,
        offered=offered,
        answers=dict(offer.answers),
        confirmed=confirmed,
        cancelled=len(seen) - confirmed,
        unsettled=len(offer.sent) - len(seen),
        confirmed_per_second=confirmed / max(1e-9, last - offer.first),
        p50_ms=percentile(late, 50) * 1000,
        p99_ms=percentile(late, 99) * 1000,
        max_ms=max(settled, default=0.0) * 1000,
        cpu_window_s=window,
        drained=measured.drained,
        generator_share=own / window,
        platform_cores=platform / window,
        other_cores=(cpu_end.machine - cpu_start.machine - platform - own) / window,
        cpu_ms={group: seconds * 1000 for group, seconds in cpu.items()},
        messages=per_order(growth(before.subjects, after.subjects), "subjects", counted),
        deliveries=per_order(growth(before.deliveries, after.deliveries), "deliveries", counted),
        pg=per_order(growth(before.pg, after.pg), "pg", counted),
    )


async def make_cast(gateway: Gateway, platform: Platform, customers: int, orders: int) -> Cast:
    """The demo's cast, reused while its stock lasts; old tokens are renewed."""
    admin = platform.env.get(BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN)
    email, _, password = admin.partition(":")
    return await prepare_cast(
        gateway,
        admin=(email, password),
        customers=customers,
        stock_needed=orders,
        data_dir=platform.data_dir,
    )


async def refresh_cast(bench: Bench, orders: int) -> None:
    """Renew the customers' old tokens before a rate (a run can outlast them)."""
    bench.cast = await make_cast(bench.gateway, bench.platform, bench.args.customers, orders)


async def warm_up(bench: Bench, total_orders: int) -> None:
    """Place a few orders the demo's way, closed loop, until they settle.

    They wait out the moment the order service has not yet heard of the new product, and
    open the services' connections, so that the first rate measures a warm platform.
    """
    cast = bench.cast
    print(
        f"cast: artisan {cast.artisan_email}, product {cast.product_id}, "
        f"{len(cast.customers)} customers with tokens (through the gateway)"
    )
    if total_orders > STOCK:
        print(f"note: {total_orders} orders need more than the product's {STOCK} units")
    await place_orders(
        bench.gateway,
        cast,
        bench.watch,
        count=WARMUP_ORDERS,
        concurrency=4,
        decline_rate=DECLINE_RATE,
        settle_timeout=60.0,
        on_settled=lambda outcome: None,
    )
    print(f"warm-up: {WARMUP_ORDERS} orders settled")


async def measure_idle(bench: Bench) -> None:
    """The idle platform's rates of every counter, and its consumer lag, after a settle."""
    await drain(bench.probe, 0)
    await asyncio.sleep(PG_STATS_SETTLE)
    bench.idle_lag = await bench.probe.lag()
    began = await bench.probe.snapshot()
    await asyncio.sleep(bench.args.idle_seconds)
    bench.idle = net_rates(began, await bench.probe.snapshot())
    cpu = bench.idle["cpu"]
    top = sorted(cpu.items(), key=lambda item: -item[1])[:4]
    print(
        f"idle over {bench.args.idle_seconds:g} s: the platform uses {sum(cpu.values()):.2f} "
        f"of a core ({', '.join(f'{name} {share:.3f}' for name, share in top)}), "
        f"{sum(bench.idle['subjects'].values()):.1f} bus messages/s, "
        f"{bench.idle['pg'].get('xact_commit', 0.0):.1f} commits/s; "
        "subtracted from every rate's figures"
    )


async def bench_all(platform: Platform, args: argparse.Namespace) -> dict[str, Any]:
    """Make the cast, warm up, measure the idle platform, then run the rates `--runs` times."""
    infra = platform.infra
    total = sum(max(1, round(rate * args.seconds)) for rate in args.rates) * args.runs
    async with nats_connection(infra.nats_url) as nc, postgres_connection(infra.database_url) as pg:
        roots, missing = find_processes(platform)
        print(f"CPU counted for {len(roots)} processes and their children: {', '.join(roots)}")
        if missing:
            print(f"no local process found for {', '.join(missing)} (external?): CPU not counted")
        watch = OutcomeWatch()
        await watch.start(nc)
        gateway = Gateway(platform.urls["gateway"])
        connector = aiohttp.TCPConnector(limit=0)  # open loop: no pool limit holds a POST back
        timeout = aiohttp.ClientTimeout(total=args.settle_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                cast = await make_cast(gateway, platform, args.customers, WARMUP_ORDERS + total)
                probe = Probe(roots, nc.jetstream(), pg)
                bench = Bench(args, platform, gateway, session, watch, probe, cast)
                await warm_up(bench, total)
                await measure_idle(bench)
                runs = [await run_rates(bench, index) for index in range(args.runs)]
            finally:
                await gateway.aclose()
                await watch.stop()
    return {"idle": bench.idle, "processes": roots, "not_found": missing, "runs": runs}


async def run_rates(bench: Bench, index: int) -> dict[str, Any]:
    """Every rate once, with its line as it ends and the run's tables at the end."""
    args = bench.args
    rates = ", ".join(f"{rate:g}" for rate in args.rates)
    print(f"\nrun {index + 1}/{args.runs}: {rates} orders/s, {args.seconds:g} s each")
    results = []
    for rate in args.rates:
        result = await run_rate(bench, rate)
        print_rate(result)
        results.append(result)
    print_run(results)
    return {"knee": knee(results), "results": [asdict(result) for result in results]}


def start_and_run(platform: Platform, args: argparse.Namespace) -> dict[str, Any]:
    """Start every service as `make run` does, then run the benchmark on it."""
    print(f"starting {len(platform.modules)} services and their servers in {platform.data_dir}")
    limits = ", ".join(f"{name}={value}" for name, value in GATEWAY_LIMITS.items())
    print(f"the bench raises the gateway's rate limits so they never throttle it: {limits}")
    began = time.perf_counter()
    platform.start()
    servers = {NATS_URL_ENV: "NATS", DATABASE_URL_ENV: "PostgreSQL", REDIS_URL_ENV: "Redis"}
    kinds = [
        f"{name} {'external' if os.environ.get(var) else 'embedded'}"
        for var, name in servers.items()
    ]
    print(f"ready in {time.perf_counter() - began:.1f} s ({', '.join(kinds)})")
    return asyncio.run(bench_all(platform, args))


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=_rates, default=[10.0, 20.0, 30.0, 40.0, 60.0, 80.0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate (default 20)")
    parser.add_argument("--runs", type=int, default=1, help="times to run the rates (default 1)")
    parser.add_argument("--customers", type=int, default=32, help="orders rotate over them")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="the idle window")
    parser.add_argument(
        "--settle-timeout", type=float, default=60.0, help="seconds an order may take to settle"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if args.seconds <= 0 or args.runs < 1 or args.customers < 1 or args.idle_seconds <= 0:
        parser.error("--seconds, --runs, --customers and --idle-seconds must be positive")
    return args


def _rates(text: str) -> list[float]:
    rates = [float(part) for part in text.split(",") if part.strip()]
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of positive rates")
    return rates


def _finite(value: Any) -> Any:
    """The report with infinities as null, which JSON has no other word for."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def main() -> int:
    """Start the platform in a temporary folder, run, stop it whatever happens."""
    args = parse_args()
    with tempfile.TemporaryDirectory(
        prefix="a4co-bench-", dir=os.environ.get("A4CO_BENCH_DIR")
    ) as folder:
        platform = Platform(
            DEFAULT_SERVICES, data_dir=Path(folder), env=GATEWAY_LIMITS, ready_timeout=180.0
        )
        raise_on_stop_signals()
        try:
            report = start_and_run(platform, args)
        except StopRequestedError:
            print("interrupted")
            return 130
        finally:
            ignore_stop_signals()
            with contextlib.suppress(OSError):  # the output may be gone; the platform must stop
                print("stopping the platform...", flush=True)
            platform.stop()
    if args.json:
        report = {"command": sys.argv, "p99_target_ms": COMMAND_P99_TARGET * 1000, **report}
        args.json.write_text(json.dumps(_finite(report), indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
