"""`a4co contracts status [--json]`: every versioned message, who sends and reads each version
(from the contracts), how many messages each reader still has to handle (from the running
platform's JetStream), and whether each old version may be removed now."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from a4co.cli.durables import live_consumers
from a4co.cli.prune import Undeclared, run_prune, undeclared_durables
from a4co.cli.prune import __doc__ as prune_doc
from a4co.cli.state import server_urls
from codegen.build import build_catalog
from codegen.errors import CodegenError
from codegen.loader import Workspace
from codegen.migration import LiveConsumer, Reader, VersionedMessage, versioned_messages
from runtime.errors import ConfigurationError, PlatformError

if TYPE_CHECKING:
    from codegen.model import Catalog

__all__ = ["add_parser", "load_contracts"]

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `contracts status` and `contracts prune`."""
    parser = commands.add_parser(
        "contracts", help="the contracts against the running platform", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        parents=[common],
        help="versions of each message, their readers and whether an old one may go",
    )
    status.add_argument(
        "--contracts", type=Path, default=CONTRACTS, help=f"contracts folder (default {CONTRACTS})"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    status.set_defaults(command=run_status)
    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="delete the durables on the broker that no contract declares",
        description=prune_doc,
    )
    prune.add_argument(
        "--contracts", type=Path, default=CONTRACTS, help=f"contracts folder (default {CONTRACTS})"
    )
    prune.add_argument("--yes", action="store_true", help="delete the idle ones (else: list)")
    prune.add_argument(
        "--force", action="store_true", help="with --yes, delete those still pending or read too"
    )
    prune.set_defaults(command=_prune)


def run_status(args: argparse.Namespace, console: Console) -> int:
    """Print the migration status; the live part is said to be unavailable when it is."""
    catalog = load_contracts(args.contracts)
    subjects = [v.subject for m in versioned_messages(catalog) for v in m.versions]
    streams = sorted({s.name for subject in subjects for s in catalog.stream_of(subject)})
    live: list[LiveConsumer] | None = None
    undeclared: list[Undeclared] | None = None
    try:
        nats_url, _ = server_urls(args.data_dir)
        live = asyncio.run(live_consumers(nats_url, streams, subjects))
        undeclared = asyncio.run(undeclared_durables(nats_url, catalog))
        where = "live pending counts from the running platform's JetStream"
    except PlatformError as exc:
        where = f"live part unavailable: {str(exc).splitlines()[0]}"
    messages = versioned_messages(catalog, live)
    if args.json:
        report = _as_json(messages, live is not None, where)
        report["undeclared_durables"] = [asdict(u) for u in undeclared or []]
        print(json.dumps(report, indent=2, default=str))
    else:
        _print(console, messages, where)
        if undeclared:
            names = ", ".join(f"{u.stream}/{u.durable}" for u in undeclared)
            console.print(
                f"durables no contract declares: {names} (`a4co contracts prune` lists and "
                "deletes them)",
                soft_wrap=True,
            )
    return 0


def _prune(args: argparse.Namespace, console: Console) -> int:
    return run_prune(args, console, load_contracts(args.contracts))


def load_contracts(folder: Path) -> Catalog:
    """The catalog of `folder` (built, not linted: a sunset passed must not hide the status)."""
    try:
        return build_catalog(Workspace(folder))
    except (CodegenError, OSError) as exc:
        raise ConfigurationError(f"the contracts in {folder} do not load: {exc}") from exc


def _print(console: Console, messages: list[VersionedMessage], where: str) -> None:
    if not messages:
        console.print("no message has more than one version in the contracts")
    for message in messages:
        table = Table(title=f"{message.name} ({message.base})", title_justify="left")
        for column in ("version", "subject", "state", "producers", "consumers (pending)"):
            table.add_column(column, overflow="fold")
        for version in message.versions:
            state: str = version.state
            if version.sunset is not None:
                state += f", sunset {version.sunset.isoformat()}"
            table.add_row(
                f"v{version.major}",
                version.subject,
                state,
                ", ".join(version.producers) or "-",
                ", ".join(_reader(r) for r in version.readers) or "-",
            )
        console.print(table)
        for verdict in message.verdicts:
            colour = "green" if verdict.removable else "yellow"
            console.print(
                f"  [{colour}]{verdict.subject}: {verdict.text}[/{colour}]", soft_wrap=True
            )
    console.print(where, soft_wrap=True)


def _reader(reader: Reader) -> str:
    via = "" if reader.declared else ", reads it via a newer version"
    pending = "?" if reader.pending is None else str(reader.pending)
    return f"{reader.service} ({pending}{via})"


def _as_json(messages: list[VersionedMessage], live: bool, where: str) -> dict[str, Any]:
    return {
        "live": {"available": live, "note": where},
        "messages": [asdict(m) for m in messages],
    }
