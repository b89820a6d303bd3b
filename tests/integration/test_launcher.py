"""The launcher runs services as processes on real servers, with stand-in service modules.

The stand-ins are written to the test's temp dir (`fake_alpha`, `fake_beta`, ...) and put on
the children's PYTHONPATH, so these tests need none of the real services.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import pytest

from a4co.infra.ports import can_connect
from a4co.launcher import LaunchError, Platform, RestartPolicy, Supervisor

ROOT = Path(__file__).resolve().parents[2]

STAND_IN = '''
"""A stand-in service: /readyz answers STATUS, /env shows the A4CO_* variables it got."""
import os

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse


def run(name: str, status: int = 200) -> None:
    app = FastAPI()

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        return JSONResponse({"service": name}, status_code=status)

    @app.get("/env")
    def env() -> dict[str, str]:
        return {key: value for key, value in os.environ.items() if key.startswith("A4CO_")}

    print(f"{name} starting", flush=True)
    port = int(os.environ[f"A4CO_{name.upper()}_PORT"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
'''

MODULES = {
    "fake_alpha": "from fake_common import run\nrun('alpha')\n",
    "fake_beta": "from fake_common import run\nrun('beta')\n",
    "fake_unready": "from fake_common import run\nrun('unready', status=503)\n",
    "fake_crash": "print('crash: the database is on fire', flush=True)\nraise SystemExit(3)\n",
}

HTTP = httpx.Client(timeout=5.0, trust_env=False)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the stand-in service packages, to put on PYTHONPATH."""
    folder = tmp_path_factory.mktemp("stand-ins")
    (folder / "fake_common.py").write_text(STAND_IN)
    for package, main in MODULES.items():
        (folder / package).mkdir()
        (folder / package / "__init__.py").write_text("")
        (folder / package / "__main__.py").write_text(main)
    return folder


def child_env(stand_ins: Path) -> dict[str, str]:
    """PYTHONPATH with the stand-ins and this repository (for `python -m a4co.launcher`)."""
    paths = [str(stand_ins), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def make_platform(stand_ins: Path, data_dir: Path, **modules: str) -> Platform:
    """A platform of the given stand-ins (name=module), its data in `data_dir`."""
    return Platform(
        modules, data_dir=data_dir, env=child_env(stand_ins), ready_timeout=30, stop_timeout=5
    )


def leftover_processes(data_dir: Path) -> list[str]:
    """Live processes that write to a log in `data_dir`, or whose command line names it."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = " ".join((proc / "cmdline").read_bytes().decode().split("\0")).strip()
            stat = (proc / "stat").read_text()
            stdout = os.readlink(proc / "fd" / "1")
        except OSError:
            continue  # ended while we looked, or not ours to inspect
        zombie = stat[stat.rindex(")") + 2] == "Z"
        if not zombie and (str(data_dir) in command or stdout.startswith(str(data_dir))):
            found.append(f"{proc.name}: {command}")
    return found


@contextmanager
def data_folder() -> Iterator[Path]:
    """A fresh data folder outside pytest's temp root.

    A concurrent pytest run resets its temp root to mode 0700, which would lock out the
    unprivileged user that embedded PostgreSQL runs as when the tests run as root.
    """
    folder = Path(tempfile.mkdtemp(prefix="a4co-launcher-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """The test's own data folder for a platform."""
    with data_folder() as folder:
        yield folder


@pytest.fixture(scope="module")
def platform(stand_ins: Path) -> Iterator[Platform]:
    """Two stand-in services, alpha and beta, on the platform's own servers."""
    with (
        data_folder() as folder,
        make_platform(stand_ins, folder, alpha="fake_alpha", beta="fake_beta") as running,
    ):
        yield running


def test_every_service_answers_readyz_at_its_url(platform: Platform) -> None:
    assert set(platform.urls) == {"alpha", "beta"}
    for name, url in platform.urls.items():
        response = HTTP.get(f"{url}/readyz")
        assert response.status_code == 200
        assert response.json() == {"service": name}


def test_services_get_the_servers_and_each_others_urls(platform: Platform) -> None:
    env = HTTP.get(f"{platform.urls['alpha']}/env").json()
    infra = platform.infra
    # Each service is on the bus as itself, not as the operator the launcher is.
    assert env["A4CO_NATS_URL"] == platform.bus_url("alpha")
    assert urlsplit(env["A4CO_NATS_URL"]).hostname == urlsplit(infra.nats_url or "").hostname
    assert platform.bus_url("alpha") != infra.nats_url or "A4CO_NATS_URL" in os.environ
    # ... and on the database as its own role, never with the admin's URL.
    assert env["A4CO_DATABASE_URL"] == platform.database_url("alpha") != infra.database_url
    assert (urlsplit(env["A4CO_DATABASE_URL"]).username or "").endswith("_alpha")
    assert env["A4CO_REDIS_URL"] == infra.redis_url
    assert env["A4CO_BETA_URL"] == platform.urls["beta"]
    assert env["A4CO_ALPHA_URL"] == platform.urls["alpha"]
    assert platform.urls["beta"].endswith(f":{env['A4CO_BETA_PORT']}")


@pytest.mark.slow
def test_a_killed_service_stops_answering_and_starts_again_on_the_same_port(
    platform: Platform,
) -> None:
    url = platform.urls["alpha"]
    port = int(url.rsplit(":", 1)[1])
    first_pid = platform.pid("alpha")

    platform.kill("alpha")

    assert not can_connect("127.0.0.1", port)
    assert platform.pid("alpha") is None
    assert platform.exited() == {"alpha": -signal.SIGKILL}
    assert HTTP.get(f"{platform.urls['beta']}/readyz").status_code == 200

    platform.start_service("alpha")

    assert platform.urls["alpha"] == url
    assert HTTP.get(f"{url}/readyz").status_code == 200
    assert platform.pid("alpha") not in (None, first_pid)
    assert platform.log_path("alpha").read_text().count("alpha starting") == 2


@pytest.mark.slow
def test_the_supervisor_restarts_a_killed_service_on_its_port_and_says_so(
    platform: Platform,
) -> None:
    url, first_pid = platform.urls["alpha"], platform.pid("alpha")
    lines: list[str] = []
    supervisor = Supervisor(platform, say=lines.append, policy=RestartPolicy(first_delay=0.2))

    os.kill(first_pid or 0, signal.SIGKILL)  # a crash, not the launcher's doing

    deadline = time.monotonic() + 60
    while platform.pid("alpha") in (None, first_pid) and time.monotonic() < deadline:
        supervisor.step()
        time.sleep(0.05)
    assert HTTP.get(f"{url}/readyz").status_code == 200
    assert platform.pid("alpha") not in (None, first_pid)
    assert lines[0].startswith(
        "the alpha service was killed by SIGKILL (code -9); restarting in 0.2 s (restart 1)"
    )
    assert lines[1].startswith("the alpha service is back")
    assert supervisor.restarts("beta") == 0


def test_starting_a_running_service_is_refused(platform: Platform) -> None:
    with pytest.raises(LaunchError, match="already running"):
        platform.start_service("beta")


def test_a_service_the_platform_does_not_run_is_refused(platform: Platform) -> None:
    with pytest.raises(LaunchError, match="no service named 'gamma'"):
        platform.kill("gamma")


def test_a_service_that_crashes_at_start_is_named_with_its_log_tail(
    stand_ins: Path, data_dir: Path
) -> None:
    platform = make_platform(stand_ins, data_dir, alpha="fake_alpha", crash="fake_crash")

    with pytest.raises(LaunchError) as caught:
        platform.start()

    assert caught.value.service == "crash"
    assert "the crash service (python -m fake_crash) exited with code 3" in caught.value.summary
    assert "crash: the database is on fire" in str(caught.value)
    assert leftover_processes(data_dir) == []


def test_a_service_that_never_gets_ready_is_named_after_the_timeout(
    stand_ins: Path, data_dir: Path
) -> None:
    platform = Platform(
        {"unready": "fake_unready"}, data_dir=data_dir, env=child_env(stand_ins), ready_timeout=3
    )

    with pytest.raises(LaunchError) as caught:
        platform.start()

    assert caught.value.service == "unready"
    assert "did not answer" in caught.value.summary
    assert "within 3 s" in caught.value.summary
    assert "unready starting" in str(caught.value)
    assert leftover_processes(data_dir) == []


def test_stop_leaves_no_process_behind(stand_ins: Path, data_dir: Path) -> None:
    platform = make_platform(stand_ins, data_dir, alpha="fake_alpha", beta="fake_beta")
    platform.start()
    pids = [platform.pid("alpha"), platform.pid("beta")]
    assert None not in pids
    assert leftover_processes(data_dir) != []

    platform.stop()

    assert leftover_processes(data_dir) == []
    assert [platform.pid("alpha"), platform.pid("beta")] == [None, None]
    platform.stop()  # a second stop does nothing


def read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Copy a text stream's lines into a queue (run in a thread)."""
    for line in stream:
        lines.put(line)


def test_the_command_serves_until_sigint_and_stops_cleanly(stand_ins: Path, data_dir: Path) -> None:
    command = [sys.executable, "-m", "a4co.launcher", "--data-dir", str(data_dir)]
    command += ["alpha=fake_alpha", "beta=fake_beta"]
    env = {**os.environ, **child_env(stand_ins)}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(child.stdout, lines), daemon=True).start()
    table: list[str] = []
    try:
        while not table or "Ctrl-C" not in table[-1]:
            table.append(lines.get(timeout=60))
        alpha_url = next(line.split()[1] for line in table if line.split()[:1] == ["alpha"])
        assert HTTP.get(f"{alpha_url}/readyz").status_code == 200
        assert any(line.split()[:1] == ["nats"] for line in table)

        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert any("stopped 2 services" in line for line in rest), rest
    assert not can_connect("127.0.0.1", int(alpha_url.rsplit(":", 1)[1]))
    assert leftover_processes(data_dir) == []


def test_the_command_fails_in_one_line_naming_the_crashed_service(
    stand_ins: Path, data_dir: Path
) -> None:
    command = [sys.executable, "-m", "a4co.launcher", "--data-dir", str(data_dir)]
    command += ["alpha=fake_alpha", "crash=fake_crash"]
    env = {**os.environ, **child_env(stand_ins)}

    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 1
    error = result.stderr.strip()
    assert "\n" not in error
    assert "the crash service (python -m fake_crash) exited with code 3" in error
    assert leftover_processes(data_dir) == []
