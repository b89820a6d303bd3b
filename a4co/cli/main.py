"""`a4co [--data-dir DIR] COMMAND ...`: parse the command line and run one command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from a4co.cli import contracts, demo, dlq, status, trace, up
from a4co.infra import DEFAULT_DATA_DIR
from runtime.errors import PlatformError

__all__ = ["main"]

PROG = "a4co"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; a PlatformError (say, no platform running) prints one line, exit 1."""
    args = parser().parse_args(argv)
    # Piped (make, CI, tests): wide enough that names and URLs are not cut.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    try:
        code: int = args.command(args, console)
    except PlatformError as exc:
        console.print(f"[red]{PROG} {args.name}:[/red] {str(exc).splitlines()[0]}", soft_wrap=True)
        return 1
    return code


def parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    top = argparse.ArgumentParser(
        prog=PROG, description="Run the A4CO platform, drive it and look inside it."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"embedded servers' data, logs and the state file (default {DEFAULT_DATA_DIR})",
    )
    commands = top.add_subparsers(dest="name", required=True, metavar="COMMAND")
    for module in (up, demo, status, dlq, trace, contracts):
        module.add_parser(commands, common)
    return top
