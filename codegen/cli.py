"""Command line: `python -m codegen validate|generate|check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.errors import CodegenError, ContractErrors
from codegen.pipeline import load_catalog

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; print findings and return the exit status."""
    parser = argparse.ArgumentParser(prog="a4co-codegen", description=__doc__)
    parser.add_argument("command", choices=["validate", "generate", "check"])
    parser.add_argument("--contracts", type=Path, default=Path("contracts"))
    parser.add_argument("--out", type=Path, default=Path("generated"))
    args = parser.parse_args(argv)
    try:
        _, catalog = load_catalog(args.contracts)
        if args.command == "validate":
            print(f"{len(catalog.services)} services, {len(catalog.channels)} channels: valid")
            return 0
        from codegen.write import check, generate

        if args.command == "generate":
            written = generate(args.contracts, args.out)
            print(f"generated {written} files into {args.out}")
            return 0
        stale = check(args.contracts, args.out)
        if stale:
            print(stale, file=sys.stderr)
            print(f"{args.out} is stale: run `make generate` and commit", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    except ContractErrors as exc:
        for finding in exc.findings:
            print(finding, file=sys.stderr)
        print(f"{len(exc.findings)} contract problem(s)", file=sys.stderr)
        return 1
    except CodegenError as exc:
        print(exc, file=sys.stderr)
        return 1
