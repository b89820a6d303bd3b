"""`a4co contracts prune [--yes] [--force]`: delete the durables on the broker that no contract
declares any more.

A durable outlives the operation that made it: once a migration retires v1, the reader's v1
durable (`gateway_on_session_revoked`) stays on the stream, and under a work-queue or
interest policy it would keep messages alive. The contracts say which durables should exist
(each receive operation's, and one per older version it still reads); the others are listed,
and deleted with `--yes`.

A durable is deleted only when it is idle: nothing pending and no pull request waiting (no
process still reads from it, such as a replica not yet redeployed). `--force` deletes the
busy ones too; their messages stay in the stream, only the durable's position is lost.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table

from a4co.cli.bus import nats_connection
from a4co.cli.durables import filters_of, pending_of
from a4co.cli.state import server_urls

if TYPE_CHECKING:
    from codegen.model import Catalog

__all__ = ["Undeclared", "declared_durables", "run_prune", "undeclared_durables"]


@dataclass(frozen=True, slots=True)
class Undeclared:
    """A durable on the broker that no contract declares."""

    stream: str
    durable: str
    filters: tuple[str, ...]
    pending: int
    """Messages not yet delivered or not yet acked."""
    waiting: int
    """Pull requests waiting on it: a process still reads from it."""

    @property
    def busy(self) -> str:
        """Why deleting it would lose something; empty when it is idle."""
        reasons = []
        if self.pending:
            reasons.append(f"{self.pending} message(s) pending")
        if self.waiting:
            reasons.append(f"{self.waiting} pull request(s) waiting: a process still reads it")
        return "; ".join(reasons)


def declared_durables(catalog: Catalog) -> set[tuple[str, str]]:
    """(stream, durable) of every receive operation, and of each older version it reads."""
    return {
        (catalog.stream_of(channel.subject)[0].name, durable)
        for service in catalog.services.values()
        for op in service.receives
        for channel, durable in op.durables
    }


async def undeclared_durables(nats_url: str | None, catalog: Catalog) -> list[Undeclared]:
    """The durables of the catalog's streams that no contract declares, by stream and name.
    Consumers without a durable name (a CLI's ordered reader) are not listed."""
    declared = declared_durables(catalog)
    out = []
    async with nats_connection(nats_url) as nc:
        js = nc.jetstream()
        for stream in sorted(s.name for s in catalog.streams):
            try:
                infos = await js.consumers_info(stream)
            except NotFoundError:
                continue  # not created yet: nothing on it
            for info in infos:
                durable = info.config.durable_name
                if durable is None or (stream, durable) in declared:
                    continue
                waiting = info.num_waiting or 0
                out.append(Undeclared(stream, durable, filters_of(info), pending_of(info), waiting))
    return sorted(out, key=lambda u: (u.stream, u.durable))


async def _delete(nats_url: str | None, doomed: list[Undeclared]) -> None:
    async with nats_connection(nats_url) as nc:
        js = nc.jetstream()
        for item in doomed:
            await js.delete_consumer(item.stream, item.durable)


def run_prune(args: argparse.Namespace, console: Console, catalog: Catalog) -> int:
    """List the undeclared durables; delete the idle ones with --yes (all with --force).
    Exit 1 when --yes left a busy one in place, else 0."""
    nats_url, _ = server_urls(args.data_dir)
    found = asyncio.run(undeclared_durables(nats_url, catalog))
    if not found:
        console.print("every durable on the broker is declared by a contract")
        return 0
    table = Table(title="Durables no contract declares", title_justify="left")
    for column in ("stream", "durable", "filters", "pending", "state"):
        table.add_column(column, overflow="fold")
    for item in found:
        state = item.busy or "idle"
        table.add_row(item.stream, item.durable, ", ".join(item.filters), str(item.pending), state)
    console.print(table)
    if not args.yes:
        console.print("nothing deleted: run with --yes to delete the idle ones (--force: all)")
        return 0
    doomed = [item for item in found if args.force or not item.busy]
    kept = [item for item in found if item not in doomed]
    asyncio.run(_delete(nats_url, doomed))
    for item in doomed:
        console.print(f"deleted {item.stream}/{item.durable}")
    for item in kept:
        console.print(f"kept {item.stream}/{item.durable}: {item.busy} (--force deletes it)")
    return 1 if kept else 0
