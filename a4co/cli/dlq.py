"""`a4co dlq list [--service S]` and `a4co dlq redrive SEQ`: the dead-letter queue."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table

from a4co.cli.bus import nats_connection
from a4co.cli.state import server_urls
from runtime.bus.dlq import ORIGINAL_SUBJECT, list_dead_letters, redrive
from runtime.bus.nats_publisher import DLQ_STREAM

__all__ = ["add_parser"]


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `dlq list` and `dlq redrive`."""
    parser = commands.add_parser("dlq", help="list or redrive dead letters", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="the newest dead letters, newest first"
    )
    listing.add_argument("--service", help="only this service's dead letters")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(command=run_list)
    again = actions.add_parser(
        "redrive", parents=[common], help="republish a dead letter to its subject, then delete it"
    )
    again.add_argument("sequence", type=int, help="the dead letter's sequence (from `dlq list`)")
    again.set_defaults(command=run_redrive)


def run_list(args: argparse.Namespace, console: Console) -> int:
    """Print the dead letters as a table."""
    nats_url, _ = server_urls(args.data_dir)
    return asyncio.run(_list(console, nats_url, args.service, args.limit))


def run_redrive(args: argparse.Namespace, console: Console) -> int:
    """Redrive one dead letter and say where it went."""
    nats_url, _ = server_urls(args.data_dir)
    return asyncio.run(_redrive(console, nats_url, args.sequence))


async def _list(console: Console, nats_url: str | None, service: str | None, limit: int) -> int:
    async with nats_connection(nats_url) as nc:
        letters = await list_dead_letters(nc.jetstream(), service=service, limit=limit)
    whose = f" of the {service} service" if service else ""
    if not letters:
        console.print(f"no dead letters{whose}")
        return 0
    console.print(f"[bold]{len(letters)} dead letter{'s' * (len(letters) != 1)}[/bold]{whose}")
    table = Table()
    for column in ("seq", "subject", "original seq", "consumer", "attempts", "failed at"):
        table.add_column(column, no_wrap=column != "subject")
    table.add_column("error", overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.sequence),
            letter.original_subject,
            str(letter.original_sequence),
            letter.consumer,
            str(letter.attempts),
            letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.error,
        )
    console.print(table)
    console.print("Redrive one with `a4co dlq redrive <seq>`.")
    return 0


async def _redrive(console: Console, nats_url: str | None, sequence: int) -> int:
    async with nats_connection(nats_url) as nc:
        js = nc.jetstream()
        subject = "its subject"
        with contextlib.suppress(NotFoundError):  # redrive() says so in its own words
            raw = await js.get_msg(DLQ_STREAM, seq=sequence)
            subject = (raw.headers or {}).get(ORIGINAL_SUBJECT, subject)
        new_sequence = await redrive(js, sequence)
    console.print(f"redrove dead letter #{sequence} to {subject} (stream sequence {new_sequence})")
    return 0
