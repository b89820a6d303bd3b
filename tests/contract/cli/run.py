"""`make test-api`: Schemathesis' CLI, every check, every OpenAPI document, through the gateway.

Starts the platform as `make run` does (its own servers in a fresh data folder), logs in as
the development admin through the gateway, then runs, for each `contracts/openapi/<s>.yaml`,

    schemathesis --config-file tests/contract/cli/schemathesis.toml run \\
        contracts/openapi/<s>.yaml --url <gateway>/api/<s> \\
        -H 'Authorization: Bearer <token>' --checks all --max-examples N --seed S

and prints a line per document. The exit status is 1 when any run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from a4co.cli.gateway import Gateway
from a4co.launcher import Platform
from a4co.launcher.platform import DEV_BOOTSTRAP_ADMIN

ROOT = Path(__file__).resolve().parents[3]
CONFIG = Path(__file__).with_name("schemathesis.toml")
CONTRACTS = ROOT / "contracts" / "openapi"


@dataclass
class Outcome:
    """What the CLI said about one document."""

    document: str
    code: int
    operations: int = 0
    cases: int = 0
    summary: str = ""


def main(argv: list[str] | None = None) -> int:
    """Start the platform, run the CLI on each document, stop; 1 if any run failed."""
    args = _parser().parse_args(argv)
    documents = args.documents or sorted(p.stem for p in CONTRACTS.glob("*.yaml"))
    data_dir = Path(tempfile.mkdtemp(prefix="test-api-", dir=_scratch()))
    started = time.monotonic()
    try:
        with Platform(data_dir=data_dir, ready_timeout=120.0) as platform:
            gateway = platform.urls["gateway"]
            print(f"platform ready in {time.monotonic() - started:.0f} s; gateway {gateway}")
            token = asyncio.run(_admin_token(gateway))
            outcomes = [_run(name, gateway, token, args) for name in documents]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    _report(outcomes, time.monotonic() - started)
    return 0 if all(o.code == 0 for o in outcomes) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10, help="per operation (10)")
    parser.add_argument("--seed", type=int, default=4242, help="for reproducible runs (4242)")
    parser.add_argument("documents", nargs="*", help="service names (default: every document)")
    return parser


def _scratch() -> Path:
    scratch = ROOT / ".a4co"
    scratch.mkdir(exist_ok=True)
    return scratch


async def _admin_token(gateway_url: str) -> str:
    email, _, password = os.environ.get("A4CO_BOOTSTRAP_ADMIN", DEV_BOOTSTRAP_ADMIN).partition(":")
    gateway = Gateway(gateway_url)
    try:
        return (await gateway.login(email, password)).value
    finally:
        await gateway.aclose()


def _run(name: str, gateway: str, token: str, args: argparse.Namespace) -> Outcome:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        str(CONTRACTS / f"{name}.yaml"),
        "--url",
        f"{gateway}/api/{name}",
        "-H",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--no-color",
    ]
    shown = ["'Authorization: Bearer ...'" if a.startswith("Authorization") else a for a in command]
    print(f"\n$ {' '.join(shown)}", flush=True)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    print(result.stdout, result.stderr, sep="", flush=True)
    return _outcome(name, result.returncode, result.stdout)


def _outcome(name: str, code: int, output: str) -> Outcome:
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    last = [line.strip("= ") for line in output.splitlines() if line.startswith("=")]
    return Outcome(
        name,
        code,
        operations=int(tested.group(1)) if tested else 0,
        cases=int(cases.group(1)) if cases else 0,
        summary=last[-1] if last else f"exit status {code}",
    )


def _report(outcomes: list[Outcome], seconds: float) -> None:
    print("\nSchemathesis CLI through the gateway, every check:")
    for o in outcomes:
        mark = "ok  " if o.code == 0 else "FAIL"
        print(
            f"  {mark} {o.document:<15} {o.operations:>3} operations {o.cases:>5} cases "
            f" {o.summary}"
        )
    failed = [o.document for o in outcomes if o.code != 0]
    print(
        f"{len(outcomes)} documents, {sum(o.operations for o in outcomes)} operations, "
        f"{sum(o.cases for o in outcomes)} test cases, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f", {seconds:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
