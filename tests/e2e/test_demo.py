"""`a4co demo --start -n 20` (what `make demo` runs) on a fresh data folder: it starts every
service on embedded servers, places 20 orders through the gateway, prints its summary and
stops the platform again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 20
EMBEDDED = {"A4CO_NATS_URL": "", "A4CO_DATABASE_URL": "", "A4CO_REDIS_URL": ""}

pytestmark = pytest.mark.slow


def _row(output: str, label: str) -> str:
    """The value cell of a summary row (`│ label │ value │`)."""
    match = re.search(rf"^\W*{re.escape(label)}\W+(\S[^│┃|]*?)\s*[│┃|]\s*$", output, re.MULTILINE)
    assert match, f"no {label!r} row in:\n{output}"
    return match.group(1)


def test_demo_starts_the_platform_settles_every_order_and_sums_up() -> None:
    with tempfile.TemporaryDirectory(prefix="a4co-demo-") as folder:
        data_dir = Path(folder) / "data"
        command = ["demo", "--start", "-n", str(ORDERS), "--data-dir", str(data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "runtime.cli", *command],
            cwd=ROOT,
            env={**os.environ, **EMBEDDED},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert not (data_dir / "urls.json").exists(), "the state file outlived the demo"
        # Every service did all of this within the rights its contract gives it.
        log = (data_dir / "nats" / "nats-server.log").read_text(errors="replace")
        assert "Violation" not in log, [line for line in log.splitlines() if "Violation" in line]

    assert _row(output, "settled") == f"{ORDERS}/{ORDERS}"
    confirmed, cancelled = int(_row(output, "confirmed")), int(_row(output, "cancelled"))
    assert confirmed + cancelled == ORDERS
    assert cancelled == int(_row(output, "declined cards")) == 2  # the default rate, 0.1
    assert re.fullmatch(r"\d+ ms", _row(output, "time to settle p99"))
    assert int(_row(output, "order.confirmed.v1")) == confirmed
    assert "stopping the platform the demo started" in output
