"""`a4co demo --start -n 20` (what `make demo` runs) on a fresh data folder: it starts every
service on embedded servers, places 20 orders through the gateway, prints its summary and
stops the platform again. And `a4co demo` against `a4co up` rides out an order service
killed mid-run: `a4co up` restarts it, the demo waits for it, every order settles."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import asyncpg
import pytest

from a4co.cli.state import find_state, state_path

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 20
EMBEDDED = {"A4CO_NATS_URL": "", "A4CO_DATABASE_URL": "", "A4CO_REDIS_URL": ""}
DEMO_SERVICES = ["gateway", "auth", "user", "artisan", "geo", "inventory", "payment", "order"]
WAIT = 300.0

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
            [sys.executable, "-m", "a4co.cli", *command],
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


def _a4co(data_dir: Path, log: IO[str], *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "a4co.cli", *argv, "--data-dir", str(data_dir)],
        cwd=ROOT,
        env={**os.environ, **EMBEDDED},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until(condition: object, what: str, log: Path) -> None:
    """Poll `condition()` (every 0.2 s) until it is true; fail naming `what` after WAIT."""
    assert callable(condition)
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {WAIT:g} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _orders_placed(database_url: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return int(await connection.fetchval('SELECT count(*) FROM "order".sagas'))
        finally:
            await connection.close()

    return asyncio.run(count())


def _service_pid(data_dir: Path, module: str) -> int:
    """The pid of `python -m <module>` writing to its log in `data_dir`."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            stdout = os.readlink(proc / "fd" / "1")
        except OSError:
            continue
        if module.encode() in command and stdout.startswith(str(data_dir)):
            return int(proc.name)
    raise AssertionError(f"no {module} process of {data_dir}")


def test_the_demo_rides_out_an_order_service_that_up_restarts() -> None:
    with tempfile.TemporaryDirectory(prefix="a4co-restart-") as folder:
        data_dir, up_log, demo_log = (
            Path(folder) / "data",
            Path(folder) / "up.log",
            Path(folder) / "demo.log",
        )
        with up_log.open("w") as up_out, demo_log.open("w") as demo_out:
            up = _a4co(data_dir, up_out, "up", *DEMO_SERVICES)
            try:
                _until(
                    lambda: state_path(data_dir).exists() or up.poll() is not None,
                    "no platform",
                    up_log,
                )
                state = find_state(data_dir)
                demo = _a4co(data_dir, demo_out, "demo", "-n", "24", "--concurrency", "4")
                try:
                    _until(
                        lambda: _orders_placed(state.database_url or "") >= 4,
                        "no orders placed",
                        demo_log,
                    )
                    os.kill(_service_pid(data_dir, "services.order"), signal.SIGKILL)
                    assert demo.wait(timeout=WAIT) == 0, demo_log.read_text()
                finally:
                    if demo.poll() is None:
                        demo.kill()
                        demo.wait()
            finally:
                up.send_signal(signal.SIGTERM)
                up.wait(timeout=120)
        demo_output, up_output = demo_log.read_text(), up_log.read_text()

    assert (
        "the order service was killed by SIGKILL (code -9); restarting in 1 s (restart 1)"
        in up_output
    )
    assert "the order service is back" in up_output
    assert _row(demo_output, "placed") == "24/24"
    assert _row(demo_output, "settled") == "24/24"
    assert "not settled" not in demo_output
    assert "calls again while a service was unavailable" in demo_output  # it did wait
