"""Benchmark of the gateway's overhead: the same profile read sent straight to the user
service and through the gateway (token verified, session checked, rate limit counted).

Starts embedded servers (or uses A4CO_NATS_URL, A4CO_DATABASE_URL, A4CO_REDIS_URL), the
auth, user and gateway services as processes; registers and logs in a user, then offers
GET /users/{id} at a fixed rate, alternating direct and gateway requests (open loop), and
prints each path's p50/p99, the gateway's overhead per request and the ratio.

    .venv/bin/python bench/bench_gateway.py [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from bench_auth import log_in, open_loop, percentile

from a4co.launcher import Platform


async def run(rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory(
        prefix="a4co-bench-", dir=os.environ.get("A4CO_BENCH_DIR")
    ) as folder:
        # The bench is one client: lift its per-client limit so that it measures the proxy.
        env = {"A4CO_GATEWAY_RATE_LIMIT": "100000/second"}
        platform = Platform(["auth", "user", "gateway"], data_dir=Path(folder), env=env)
        await asyncio.to_thread(platform.start)
        try:
            await measure(platform.urls, rate, seconds)
        finally:
            await asyncio.to_thread(platform.stop)


async def measure(urls: dict[str, str], rate: float, seconds: float) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        user_id, tokens = await log_in(http, urls)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        paths = {
            "direct": f"{urls['user']}/users/{user_id}",
            "gateway": f"{urls['gateway']}/api/user/users/{user_id}",
        }
        timings: dict[str, list[float]] = {"direct": [], "gateway": []}

        async def get(i: int) -> float:
            which = "direct" if i % 2 == 0 else "gateway"
            began = time.perf_counter()
            response = await http.get(paths[which], headers=bearer)
            assert response.status_code == 200, response.text
            elapsed = time.perf_counter() - began
            timings[which].append(elapsed)
            return elapsed

        await open_loop(rate, int(rate), get)  # warm-up: connections, the gateway's JWKS
        timings = {"direct": [], "gateway": []}
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before measuring")
        await open_loop(rate, int(rate * seconds), get)
    count = len(timings["direct"]) + len(timings["gateway"])
    print(f"GET /users/{{id}}: {count} requests offered at {rate:g}/s, half through the gateway")
    figures = {}
    for which, values in timings.items():
        figures[which] = (percentile(values, 50) * 1000, percentile(values, 99) * 1000)
        print(f"  {which:<8} p50 {figures[which][0]:.1f} ms  p99 {figures[which][1]:.1f} ms")
    (d50, d99), (g50, g99) = figures["direct"], figures["gateway"]
    print(f"  gateway overhead  p50 +{g50 - d50:.1f} ms  p99 +{g99 - d99:.1f} ms")
    print(f"  ratio gateway/direct  p50 {g50 / d50:.2f}x  p99 {g99 / d99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, both paths")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
