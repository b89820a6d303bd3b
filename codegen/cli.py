"""Command line: `python -m codegen validate|generate|check|lint-rules|breaking`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.errors import CodegenError, ContractErrors, Finding
from codegen.lint import LINT
from codegen.pipeline import load_catalog

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; print findings and return the exit status."""
    parser = argparse.ArgumentParser(prog="a4co-codegen", description=__doc__)
    commands = ["validate", "generate", "check", "lint-rules", "breaking"]
    parser.add_argument("command", choices=commands)
    parser.add_argument("--contracts", type=Path, default=Path("contracts"))
    parser.add_argument("--out", type=Path, default=Path("generated"))
    parser.add_argument("--base", help="breaking: the git ref to compare with")
    parser.add_argument("--list", action="store_true", help="breaking: print the rules")
    args = parser.parse_args(argv)
    if args.command == "lint-rules":
        print(LINT.table())
        return 0
    try:
        if args.command == "breaking":
            from codegen.breaking.command import breaking

            return breaking(args.contracts, args.base, list_rules=args.list)
        _, catalog = load_catalog(args.contracts, report=_warn)
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


def _warn(finding: Finding) -> None:
    """Print a WARN finding; it never fails the command."""
    print(finding, file=sys.stderr)
