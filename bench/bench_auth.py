"""Benchmark of token introspection (target P99 < 50 ms) and of the user profile read
(target P99 < 100 ms), on the auth and user services run as processes. The targets are
read from the operations' `x-slo` in the contracts (`bench/objectives.py`).

Starts embedded servers (or uses A4CO_NATS_URL, A4CO_DATABASE_URL, A4CO_REDIS_URL), the
auth and user services; registers a user, logs in, then offers introspections and profile
reads at fixed rates (open loop: each request leaves on schedule, whatever the answers).
Prints figures; asserts nothing.

    .venv/bin/python bench/bench_auth.py [--rate 100] [--seconds 10] [--profile-rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from objectives import latency_target

from a4co.launcher import Platform

PASSWORD = "bench-password"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def open_loop(
    rate: float, count: int, call: Callable[[int], Awaitable[float]]
) -> list[float]:
    """Start `call(i)` at `i / rate` seconds; return each call's own latency in seconds."""
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(i)))
    return list(await asyncio.gather(*tasks))


def report(what: str, rate: float, latencies: list[float], target_ms: float) -> None:
    """Print p50, p99 and mean in ms, and whether p99 meets the target."""
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    verdict = "meets" if p99 < target_ms else "MISSES"
    print(f"{what}: {len(latencies)} requests offered at {rate:g}/s")
    print(
        f"  p50 {p50:.1f} ms  p99 {p99:.1f} ms  mean {statistics.mean(latencies) * 1000:.1f} ms"
        f"  ({verdict} p99 < {target_ms:g} ms)"
    )


async def log_in(http: httpx.AsyncClient, urls: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Register a customer through the user service and log in; return id and tokens."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.es"
    registered = await http.post(
        f"{urls['user']}/users",
        json={
            "email": email,
            "full_name": "Bench Customer",
            "role": "customer",
            "province": "jaen",
            "password": PASSWORD,
        },
    )
    registered.raise_for_status()
    body = {"grant_type": "password", "username": email, "password": PASSWORD}
    while (response := await http.post(f"{urls['auth']}/token", json=body)).status_code != 200:
        await asyncio.sleep(0.1)  # auth makes the login when it consumes the user's events
    tokens: dict[str, str] = response.json()
    return registered.json()["user_id"], tokens


async def run(rate: float, seconds: float, profile_rate: float) -> None:
    with tempfile.TemporaryDirectory(
        prefix="a4co-bench-", dir=os.environ.get("A4CO_BENCH_DIR")
    ) as folder:
        platform = Platform(["auth", "user"], data_dir=Path(folder))
        await asyncio.to_thread(platform.start)
        try:
            await measure(platform.urls, rate, seconds, profile_rate)
        finally:
            await asyncio.to_thread(platform.stop)


async def measure(urls: dict[str, str], rate: float, seconds: float, profile_rate: float) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        user_id, tokens = await log_in(http, urls)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

        async def introspect(i: int) -> float:
            began = time.perf_counter()
            response = await http.post(
                f"{urls['auth']}/introspect", json={"token": tokens["access_token"]}, headers=bearer
            )
            assert response.status_code == 200 and response.json()["active"] is True
            return time.perf_counter() - began

        async def profile(i: int) -> float:
            began = time.perf_counter()
            response = await http.get(f"{urls['user']}/users/{user_id}", headers=bearer)
            assert response.status_code == 200
            return time.perf_counter() - began

        await open_loop(rate, int(rate), introspect)  # warm-up: connections, caches
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before measuring")
        introspections = await open_loop(rate, int(rate * seconds), introspect)
        report("introspection", rate, introspections, _ms("auth", "introspectToken"))
        await open_loop(profile_rate, int(profile_rate), profile)
        latencies = await open_loop(profile_rate, int(profile_rate * seconds), profile)
        report("user getProfile", profile_rate, latencies, _ms("user", "getProfile"))


def _ms(service: str, operation_id: str) -> float:
    """The operation's `x-slo` latency in milliseconds (50 for introspection, 100 for a profile)."""
    return latency_target(service, operation_id) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="introspections per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile-rate", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.seconds, args.profile_rate))


if __name__ == "__main__":
    main()
