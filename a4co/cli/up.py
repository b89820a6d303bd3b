"""`a4co up [--replicas order=2] [--nats-cluster 3] [SERVICES...]`: start the platform, print
where everything is, restart a service that dies (with backoff), serve until stopped."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from a4co.cli.running import RunningPlatform, service_modules, with_replicas
from a4co.cli.signals import StopRequestedError, ignore_stop_signals, raise_on_stop_signals
from a4co.cli.state import PlatformState, state_path
from a4co.cli.static import missing_sites
from a4co.infra.base import redact
from a4co.infra.prometheus import MISSING_PROMETHEUS
from a4co.launcher import DEFAULT_SERVICES, LaunchError, Supervisor
from a4co.launcher.platform import DEV_BOOTSTRAP_ADMIN
from runtime.errors import PlatformError

__all__ = ["add_parser", "run"]


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `up`."""
    parser = commands.add_parser(
        "up",
        parents=[common],
        help="start the servers and the services; Ctrl-C stops all",
        description=__doc__,
        epilog="A4CO_<SERVICE>_DATABASE_URL (e.g. A4CO_PAYMENT_DATABASE_URL) puts that "
        "service's schema on a PostgreSQL of its own; the others use A4CO_DATABASE_URL's, "
        "else the embedded one.",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for every service's /readyz (default 60)",
    )
    parser.add_argument(
        "--replicas",
        default="",
        metavar="NAME=N,...",
        help="run N processes of a service on its durable consumers, e.g. order=2,inventory=2 "
        "(the extra ones are named order_2, ...)",
    )
    parser.add_argument(
        "--nats-cluster",
        type=int,
        choices=(1, 3, 5),
        default=1,
        metavar="N",
        help="run the bus as N clustered nats-servers (1, 3 or 5) with every stream at RN "
        "(A4CO_STREAM_REPLICAS overrides); default 1",
    )
    parser.add_argument(
        "services",
        nargs="*",
        default=list(DEFAULT_SERVICES),
        help="names, or name=module (default: every service)",
    )
    parser.set_defaults(command=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Start, print the table, serve until SIGINT or SIGTERM, stop."""
    running = RunningPlatform(
        with_replicas(service_modules(args.services), args.replicas),
        data_dir=args.data_dir,
        console=console,
        ready_timeout=args.ready_timeout,
        nats_cluster=args.nats_cluster,
    )
    raise_on_stop_signals()
    try:
        state = running.start()
    except StopRequestedError:
        console.print("interrupted: stopped before every service was ready")
        return 130
    except PlatformError as exc:
        summary = exc.summary if isinstance(exc, LaunchError) else str(exc).splitlines()[0]
        console.print(f"[red]a4co up: start-up failed:[/red] {summary}")
        return 1
    try:
        print_table(console, state)
        _serve(console, running)
    except (StopRequestedError, BrokenPipeError):
        pass  # a signal; or the terminal's reader (`make run | tee`) went with Ctrl-C
    finally:
        ignore_stop_signals()
        stopped = _stop(console, running)
    count = len(state.services)
    _say(console, f"stopped {count} service{'s' * (count != 1)} and the servers it started")
    return 0 if stopped else 1


def _stop(console: Console, running: RunningPlatform) -> bool:
    """Stop everything, whatever happens to the output meanwhile; tell whether it went well."""
    _say(console, "stopping...")
    try:
        running.stop()
    except PlatformError as exc:
        _say(console, f"[red]a4co up: stop failed:[/red] {str(exc).splitlines()[0]}")
        return False
    return True


def _say(console: Console, text: str) -> None:
    with contextlib.suppress(OSError):  # output closed: stopping matters more than saying so
        console.print(text)


def print_table(console: Console, state: PlatformState) -> None:
    """The URLs of the services, the gateway, the sites and the servers; the admin login."""
    console.print(f"[bold green]A4CO platform ready[/bold green] (data in {state.data_dir})")
    table = Table()
    table.add_column("what", style="bold")
    table.add_column("URL", overflow="fold")
    table.add_column("log", style="dim", overflow="fold")
    for name, url in state.services.items():
        table.add_row(name, url, str(Path(state.data_dir) / "logs" / f"{name}.log"))
    table.add_section()
    if state.gateway:
        table.add_row("gateway (the edge)", f"{state.gateway}/api/<service>/<path>", "")
    missing = missing_sites()
    for name, url in state.static.items():
        label = "event catalog" if name == "catalog" else name
        table.add_row(
            label, url, "[yellow]not built yet (see below)[/yellow]" if name in missing else ""
        )
        if name == "catalog" and name not in missing:
            table.add_row("  live figures", f"{url}live.html", "")
            table.add_row("  order traces", f"{url}trace.html?order=<order-id>", "")
    if state.prometheus:
        table.add_row("prometheus (metrics, alerts)", f"{state.prometheus}/alerts", "")
        for name, url in state.exporters.items():
            table.add_row(f"  {name} figures", url, "")
    table.add_section()
    for name, server in (
        ("nats", state.nats_url),
        ("postgres", state.database_url),
        ("redis", state.redis_url),
    ):
        if server is not None:
            table.add_row(name, redact(server), "")
    console.print(table)
    for line in missing.values():
        console.print(f"[yellow]note:[/yellow] {line}")
    if not state.prometheus:
        console.print(f"[yellow]note:[/yellow] {MISSING_PROMETHEUS}")
    for note in state.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if state.admin_email:
        dev = f"{state.admin_email}:{state.admin_password}" == DEV_BOOTSTRAP_ADMIN
        shown = state.admin_password if dev else "(from A4CO_BOOTSTRAP_ADMIN)"
        console.print(f"Admin login: [bold]{state.admin_email}[/bold]  password {shown}")
    console.print(f"State file: {state_path(Path(state.data_dir))} (`a4co demo`, `a4co status`)")
    console.print("Press Ctrl-C to stop.")


def _serve(console: Console, running: RunningPlatform) -> None:
    """Wait for a signal; restart services that end meanwhile, saying so."""

    def say(line: str) -> None:
        console.print(f"a4co up: {line}", markup=False, soft_wrap=True)

    supervisor = Supervisor(running.platform, say=say)
    while True:
        time.sleep(0.5)
        supervisor.step()
