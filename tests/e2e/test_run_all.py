"""`make run`: the launcher starts all 18 services as processes, each answers /readyz, the
gateway routes to each of them with auth's tokens, and stopping leaves no process behind."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from a4co.launcher import DEFAULT_SERVICES, Platform
from a4co.launcher.platform import BOOTSTRAP_ADMIN_ENV
from services.gateway.config import SERVICES as BEHIND_GATEWAY

pytestmark = pytest.mark.slow


def test_make_run_starts_every_service_and_the_gateway_reaches_each_of_them() -> None:
    assert len(DEFAULT_SERVICES) == 18
    email, password = f"admin-{uuid.uuid4().hex[:8]}@a4co.test", "run-all-admin-password"
    with tempfile.TemporaryDirectory(prefix="a4co-run-all-") as folder:
        platform = Platform(
            DEFAULT_SERVICES,
            data_dir=Path(folder),
            env={
                "A4CO_NATS_URL": "",  # embedded servers of its own, in the temp dir
                "A4CO_DATABASE_URL": "",
                "A4CO_REDIS_URL": "",
                "A4CO_JWKS_URL": "",  # tokens verified against the auth service's JWKS
                BOOTSTRAP_ADMIN_ENV: f"{email}:{password}",
            },
            ready_timeout=120.0,
        )
        before = _ours(folder)  # the session's own servers, browsers and the like
        platform.start()
        try:
            started = _ours(folder) - before
            assert {platform.pid(name) for name in DEFAULT_SERVICES} <= started
            assert len(started) >= len(DEFAULT_SERVICES) + 3  # and the three servers
            with httpx.Client(timeout=10.0, trust_env=False) as http:
                ready = {
                    name: http.get(f"{url}/readyz").status_code
                    for name, url in platform.urls.items()
                }
                assert ready == dict.fromkeys(DEFAULT_SERVICES, 200)
                api = f"{platform.urls['gateway']}/api"
                routed = {
                    name: http.get(f"{api}/{name}/readyz").status_code for name in BEHIND_GATEWAY
                }
                assert routed == dict.fromkeys(BEHIND_GATEWAY, 200)
                assert set(BEHIND_GATEWAY) | {"gateway"} == set(DEFAULT_SERVICES)
                provinces = http.get(f"{api}/geo/provinces")
                assert provinces.status_code == 200
                assert len(provinces.json()["items"]) == 8
                assert http.get(f"{api}/analytics/dashboard").status_code == 401
                token = http.post(
                    f"{api}/auth/token",
                    json={"grant_type": "password", "username": email, "password": password},
                )
                assert token.status_code == 200, token.text
                bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
                dashboard = http.get(f"{api}/analytics/dashboard", headers=bearer)
                assert dashboard.status_code == 200, dashboard.text
                queue = http.get(f"{api}/admin/verification-queue", headers=bearer)
                assert queue.status_code == 200, queue.text
        finally:
            started = _ours(folder) - before
            platform.stop()
        assert platform.exited().keys() == set(DEFAULT_SERVICES)
        assert _alive(started) == set()


def _ours(folder: str) -> set[int]:
    """This test's descendants, and every process whose command line names its data folder."""
    me, found = os.getpid(), set()
    parents: dict[int, int] = {}
    for pid, stat, cmdline in _processes():
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if folder.encode() in cmdline:
            found.add(pid)
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor:
            if ancestor == me:
                found.add(pid)
                break
            ancestor = parents.get(ancestor)
    return found


def _alive(pids: Iterable[int]) -> set[int]:
    """Those of `pids` that still run (zombies count as ended)."""
    running = {pid for pid, stat, _ in _processes() if stat.rsplit(")", 1)[1].split()[0] != "Z"}
    return running & set(pids)


def _processes() -> list[tuple[int, str, bytes]]:
    """(pid, /proc stat line, command line) of every process this user can see."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found.append(
                (int(entry.name), (entry / "stat").read_text(), (entry / "cmdline").read_bytes())
            )
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
    return found
