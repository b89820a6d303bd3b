"""`a4co demo [-n 100]`: place orders through the gateway of a running platform, then sum up.

It logs in as the dev admin, makes (or reuses) a verified artisan with a product and some
customers, places the orders (some paying with a declined card) a few at a time, waits for
each to settle and prints confirmed, cancelled, rejected, p50/p99 time to settle and the
events seen on NATS. A service that restarts meanwhile is waited for (each call retries for
up to 60 s); whatever happens, the summary says what settled and names what did not.
With `--start` (what `make demo` passes) it first starts the platform when none is
running, and stops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from a4co.cli.bus import nats_connection
from a4co.cli.cast import prepare_cast
from a4co.cli.gateway import DemoError, Gateway
from a4co.cli.orders import OrderRun, Outcome, place_orders
from a4co.cli.report import print_summary
from a4co.cli.running import RunningPlatform, service_modules
from a4co.cli.signals import StopRequestedError, ignore_stop_signals, raise_on_stop_signals
from a4co.cli.state import PlatformState, find_state
from a4co.cli.watch import BusWatch
from a4co.infra import NATS_URL_ENV
from a4co.launcher import DEFAULT_SERVICES
from a4co.launcher.platform import BOOTSTRAP_ADMIN_ENV, DEV_BOOTSTRAP_ADMIN
from runtime.errors import ConfigurationError

__all__ = ["add_parser"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where the demo goes: the gateway, NATS (for counting events) and the admin login."""

    gateway: str
    nats_url: str | None
    admin: tuple[str, str]
    data_dir: Path


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `demo`."""
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="place orders through the gateway and print a summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--orders", type=int, default=100, help="orders (default 100)")
    parser.add_argument("--gateway", help="the gateway's URL (default: from `a4co up`)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="orders in flight at once (default 8)"
    )
    parser.add_argument(
        "--decline-rate",
        type=float,
        default=0.1,
        help="share of orders paid with tok_declined (default 0.1)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=60.0,
        help="seconds an order may take to settle (default 60)",
    )
    parser.add_argument(
        "--start",
        action="store_true",
        help="start the platform first if none runs (stopped again at the end)",
    )
    parser.set_defaults(command=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Find (or start) the platform, run the demo, print the summary; 0 if all settled."""
    if args.orders < 1 or args.concurrency < 1 or not 0 <= args.decline_rate <= 1:
        raise ConfigurationError("-n and --concurrency must be positive, --decline-rate in 0..1")
    if args.gateway:
        return _demo(args, console, _given(args))
    try:
        state = find_state(args.data_dir)
    except ConfigurationError:
        if not args.start:
            raise
    else:
        return _demo(args, console, _target(state, args.data_dir))
    console.print(f"no platform runs from {args.data_dir}: starting one for the demo")
    running = RunningPlatform(
        service_modules(DEFAULT_SERVICES), data_dir=args.data_dir, console=console
    )
    raise_on_stop_signals()
    try:
        state = running.start()
        return _demo(args, console, _target(state, args.data_dir))
    except StopRequestedError:
        console.print("interrupted")
        return 130
    finally:
        ignore_stop_signals()
        with contextlib.suppress(OSError):  # the output may be gone; the platform must stop
            console.print("stopping the platform the demo started...")
        running.stop()
        with contextlib.suppress(OSError):
            console.print("stopped")


def _given(args: argparse.Namespace) -> Target:
    admin = os.environ.get(BOOTSTRAP_ADMIN_ENV) or DEV_BOOTSTRAP_ADMIN
    email, _, password = admin.partition(":")
    nats_url = os.environ.get(NATS_URL_ENV) or None
    try:
        state = find_state(args.data_dir)
    except ConfigurationError:
        pass
    else:
        nats_url = state.nats_url or nats_url
        if state.admin_email:
            email, password = state.admin_email, state.admin_password
    return Target(args.gateway, nats_url, (email, password), args.data_dir)


def _target(state: PlatformState, data_dir: Path) -> Target:
    if not state.gateway or not state.admin_email:
        raise ConfigurationError(
            "the demo needs the gateway and auth services: start them with `a4co up`"
        )
    nats_url = state.nats_url or os.environ.get(NATS_URL_ENV)
    return Target(state.gateway, nats_url, (state.admin_email, state.admin_password), data_dir)


def _demo(args: argparse.Namespace, console: Console, target: Target) -> int:
    return asyncio.run(_run(args, console, target))


async def _run(args: argparse.Namespace, console: Console, target: Target) -> int:
    watch = BusWatch()
    gateway = Gateway(target.gateway)
    try:
        if target.nats_url:
            async with nats_connection(target.nats_url) as nc:
                await watch.start(nc)
                code = await _drive(args, console, target, gateway, watch)
                await nc.flush()
                await watch.stop()
        else:
            code = await _drive(args, console, target, gateway, watch)
    finally:
        await gateway.aclose()
    return code


async def _drive(
    args: argparse.Namespace, console: Console, target: Target, gateway: Gateway, watch: BusWatch
) -> int:
    run = OrderRun()
    try:
        await _place(args, console, target, gateway, watch, run)
        await asyncio.sleep(0.5)  # the last outcomes' follow-up events (stock commits, points)
    finally:  # whatever stopped the run, say what settled and what did not
        subjects = watch.subjects if target.nats_url else None
        print_summary(console, run, subjects, gateway=target.gateway, requested=args.orders)
        if gateway.rate_limited:
            console.print(
                f"note: waited {gateway.rate_limited:.0f} s for the gateway's rate limits"
            )
        if gateway.retried:
            console.print(
                f"note: sent {gateway.retried} calls again while a service was unavailable"
            )
    missed = sum(not outcome.settled for outcome in run.outcomes)
    if missed:
        raise DemoError(f"{missed} of {len(run.outcomes)} orders did not settle (listed above)")
    return 0


async def _place(
    args: argparse.Namespace,
    console: Console,
    target: Target,
    gateway: Gateway,
    watch: BusWatch,
    run: OrderRun,
) -> None:
    """Make the cast, then place the orders with a progress bar; outcomes go into `run`."""
    customers = max(1, min(args.concurrency, args.orders, 8))
    with console.status("making the cast: artisan, product, customers (through the gateway)"):
        cast = await prepare_cast(
            gateway,
            admin=target.admin,
            customers=customers,
            stock_needed=args.orders,
            data_dir=target.data_dir,
        )
    console.print(
        f"{'reusing' if cast.reused else 'made'} artisan {cast.artisan_email} with product "
        f"{cast.product_id}; {len(cast.customers)} customers"
    )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("orders settled", total=args.orders, tally="")
        tally: dict[str, int] = {}

        def settled(outcome: Outcome) -> None:
            tally[outcome.status] = tally.get(outcome.status, 0) + 1
            shown = "  ".join(f"{status} {n}" for status, n in sorted(tally.items()))
            progress.update(task, advance=1, tally=shown)

        await place_orders(
            gateway,
            cast,
            watch,
            count=args.orders,
            concurrency=args.concurrency,
            decline_rate=args.decline_rate,
            settle_timeout=args.settle_timeout,
            on_settled=settled,
            run=run,
        )
