"""`a4co status`: consumer lag per durable, outbox backlog per service, sagas by step."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from nats.js import JetStreamContext
from rich.console import Console
from rich.table import Table

from a4co.cli.bus import nats_connection, postgres_connection
from a4co.cli.state import server_urls

__all__ = ["add_parser", "consumer_lag", "outbox_backlog", "sagas_by_step"]

TABLES_QUERY = """
SELECT table_schema FROM information_schema.tables
WHERE table_name = $1 AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY table_schema
"""


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `status`."""
    parser = commands.add_parser(
        "status",
        parents=[common],
        help="consumer lag, outbox backlog and sagas by step",
        description=__doc__,
    )
    parser.set_defaults(command=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the three tables."""
    nats_url, database_url = server_urls(args.data_dir)
    return asyncio.run(_status(console, nats_url, database_url))


async def _status(console: Console, nats_url: str | None, database_url: str | None) -> int:
    async with nats_connection(nats_url) as nc:
        lag = await consumer_lag(nc.jetstream())
    async with postgres_connection(database_url) as connection:
        backlog = await outbox_backlog(connection)
        sagas = await sagas_by_step(connection)
    console.print("[bold]Consumer lag[/bold] (JetStream durables: pending + ack pending)")
    table = Table()
    for column in ("stream", "durable", "pending", "ack pending", "lag"):
        table.add_column(column, justify="right" if column[0] in "pal" else "left")
    for (stream, durable), (pending, ack_pending) in sorted(lag.items()):
        table.add_row(stream, durable, str(pending), str(ack_pending), str(pending + ack_pending))
    console.print(table)
    console.print("[bold]Outbox backlog[/bold] (events recorded, not yet published)")
    table = Table()
    table.add_column("service")
    table.add_column("unpublished", justify="right")
    for schema, count in backlog.items():
        table.add_row(schema, str(count))
    console.print(table)
    console.print("[bold]Sagas by step[/bold]")
    table = Table()
    for column in ("service", "step", "sagas"):
        table.add_column(column, justify="right" if column == "sagas" else "left")
    for (schema, step), count in sorted(sagas.items()):
        table.add_row(schema, step, str(count))
    if not sagas:
        table.add_row("-", "(no sagas yet)", "0")
    console.print(table)
    total = sum(p + a for p, a in lag.values())
    console.print(
        f"{len(lag)} durables, {total} messages in flight; "
        f"{sum(backlog.values())} events waiting in outboxes; {sum(sagas.values())} sagas"
    )
    return 0


async def consumer_lag(js: JetStreamContext) -> dict[tuple[str, str], tuple[int, int]]:
    """(stream, durable) -> (num_pending, num_ack_pending) for every consumer of every stream."""
    lag: dict[tuple[str, str], tuple[int, int]] = {}
    for stream in await js.streams_info():
        name = stream.config.name or ""
        for info in await js.consumers_info(name):
            durable = info.config.durable_name or info.name or "?"
            lag[(name, durable)] = (info.num_pending or 0, info.num_ack_pending or 0)
    return lag


async def outbox_backlog(connection: Any) -> dict[str, int]:
    """Service schema -> rows of its `events` table not yet published."""
    backlog: dict[str, int] = {}
    for row in await connection.fetch(TABLES_QUERY, "events"):
        schema = row["table_schema"]
        backlog[schema] = int(
            await connection.fetchval(
                f"SELECT count(*) FROM {_quoted(schema)}.events WHERE published_at IS NULL"
            )
        )
    return backlog


async def sagas_by_step(connection: Any) -> dict[tuple[str, str], int]:
    """(service schema, step) -> sagas in that step, for every schema with a `sagas` table."""
    counts: dict[tuple[str, str], int] = {}
    for row in await connection.fetch(TABLES_QUERY, "sagas"):
        schema = row["table_schema"]
        for step in await connection.fetch(
            f"SELECT step, count(*) AS n FROM {_quoted(schema)}.sagas GROUP BY step"
        ):
            counts[(schema, step["step"])] = int(step["n"])
    return counts


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
