"""Benchmark of the order saga and the availability query, on the platform `make run` starts.

Starts embedded servers and the order, inventory, payment and user services as processes,
then offers orders at a fixed rate (open loop: each POST leaves on schedule, whatever the
answers) and times each from its POST to its OrderConfirmed on the bus; then offers
availability queries at a fixed rate. Prints figures; asserts nothing.

The orders are sent with aiohttp, not httpx: on this 2-core machine httpx's connection
pool (httpcore 1.0.9 scans every pooled connection for each queued request) took a whole
core at 100 orders/s and starved the services it measured. The script prints the share
of a core it used itself, so a reader can tell when the load generator is the limit.

    .venv/bin/python bench/bench_saga.py [--rate 100] [--seconds 20] [--query-rate 200] [--hops]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import nats
from nats.aio.msg import Msg

from a4co.launcher import Platform
from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import NewProductListed
from runtime.bus.nats_publisher import NatsEventSink

SAGA_SERVICES = ("auth", "user", "inventory", "payment", "order")
SAGA_CHAIN = (
    ("order", "inventory.cmd.reserve_stock.v1"),
    ("inventory", "inventory.stock_reserved.v1"),
    ("order", "payment.cmd.process_payment.v1"),
    ("payment", "payment.succeeded.v1"),
    ("order", "order.confirmed.v1"),
)
"""The happy path's messages after the POST, each with the service that publishes it."""


class Hops:
    """When each saga message of each order was created (ce-time) and seen on the bus.

    From those, per hop: the relay's lag (seen minus created, in the publishing service)
    and the wait plus handling before the next message (its ce-time minus the previous
    message's sighting: JetStream delivery, the consumer's queue, the handler up to its
    transaction). The hop where orders queue is the one that limits the saga.
    """

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[float, float]] = {}

    async def on_message(self, msg: Msg) -> None:
        created = (msg.headers or {}).get("ce-time")
        order_id = json.loads(msg.data).get("order_id")
        if created and order_id:
            at = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            self.seen.setdefault((order_id, msg.subject), (at, time.time()))

    def report(self, orders: list[str]) -> None:
        """Print p50/p90 of each hop over the middle half of `orders` (steady state)."""
        middle = orders[len(orders) // 4 : len(orders) * 3 // 4]
        rows: dict[str, list[float]] = {}
        for order_id in middle:
            previous: float | None = None
            for service, subject in SAGA_CHAIN:
                if (order_id, subject) not in self.seen:
                    break
                created, seen = self.seen[(order_id, subject)]
                if previous is not None:
                    rows.setdefault(f"{service} handles, until {subject}", []).append(
                        created - previous
                    )
                rows.setdefault(f"{service} relays {subject}", []).append(seen - created)
                previous = seen
        print(f"hops of the middle {len(middle)} orders (p50 / p90):")
        for hop, values in rows.items():
            print(
                f"  {hop:<62} {percentile(values, 50) * 1000:8.1f} ms"
                f" {percentile(values, 90) * 1000:8.1f} ms"
            )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def open_loop(rate: float, count: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    """Start `call(i)` at `i / rate` seconds; return each call's own latency in seconds."""
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(i)))
    return list(await asyncio.gather(*tasks))


async def login(http: httpx.AsyncClient, auth: str, email: str) -> str:
    """The customer's access token from auth (once auth has their credentials)."""
    body = {"grant_type": "password", "username": email, "password": "bench-password"}
    while (response := await http.post(f"{auth}/token", json=body)).status_code != 200:
        await asyncio.sleep(0.1)
    token: str = response.json()["access_token"]
    return token


async def run(rate: float, seconds: float, query_rate: float, replicas: int, hops: bool) -> None:
    with tempfile.TemporaryDirectory(
        prefix="a4co-bench-", dir=os.environ.get("A4CO_BENCH_DIR")
    ) as folder:
        services = {name: f"services.{name}" for name in SAGA_SERVICES}
        services.update({f"order_{i}": "services.order" for i in range(2, replicas + 1)})
        platform = Platform(
            services,
            data_dir=Path(folder),
            env={"A4CO_NATS_URL": "", "A4CO_DATABASE_URL": "", "A4CO_REDIS_URL": ""},
        )
        await asyncio.to_thread(platform.start)
        try:
            await measure(platform, rate, seconds, query_rate, replicas, hops)
        finally:
            await asyncio.to_thread(platform.stop)


async def measure(
    platform: Platform, rate: float, seconds: float, query_rate: float, replicas: int, hops: bool
) -> None:
    urls = platform.urls
    orders = [urls["order"], *(urls[f"order_{i}"] for i in range(2, replicas + 1))]
    if os.environ.get("A4CO_BENCH_PGSET"):
        import asyncpg

        conn = await asyncpg.connect(platform.infra.database_url or "")
        for setting in os.environ["A4CO_BENCH_PGSET"].split(";"):
            await conn.execute(f"ALTER SYSTEM SET {setting}")
        await conn.execute("SELECT pg_reload_conf()")
        print("postgres:", os.environ["A4CO_BENCH_PGSET"])
        await conn.close()
    nc = await nats.connect(platform.infra.nats_url or "")
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    http = httpx.AsyncClient(timeout=30.0, limits=limits)
    email = f"bench-{uuid.uuid4().hex[:8]}@example.es"
    customer = (
        await http.post(
            f"{urls['user']}/users",
            json={
                "email": email,
                "full_name": "Bench Customer",
                "role": "customer",
                "province": "jaen",
                "password": "bench-password",
            },
        )
    ).json()["user_id"]
    http.headers["Authorization"] = f"Bearer {await login(http, urls['auth'], email)}"
    products = [uuid.uuid4() for _ in range(20)]
    publisher = ArtisanPublisher(NatsEventSink(nc))
    for product in products:
        await publisher.new_product_listed(
            NewProductListed.model_validate(
                {
                    "product_id": product,
                    "artisan_id": uuid.uuid4(),
                    "name": "Aceite",
                    "description": "",
                    "category": "olive_oil",
                    "price": {"amount_minor": 1000, "currency": "EUR"},
                    "initial_stock": 1_000_000,
                    "stock_threshold": 0,
                    "province": "jaen",
                    "listed_at": datetime.now(UTC),
                }
            ),
            aggregate_id=str(product),
        )
    while (await http.get(f"{urls['inventory']}/availability/{products[-1]}")).status_code != 200:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # the order service's catalogue copy too

    finished: dict[str, tuple[float, str]] = {}

    async def on_outcome(msg: Msg) -> None:
        finished[json.loads(msg.data)["order_id"]] = (time.perf_counter(), msg.subject)

    recorder = Hops()
    if hops:
        for _, subject in SAGA_CHAIN:
            await nc.subscribe(subject, cb=recorder.on_message)
    await nc.subscribe("order.confirmed.v1", cb=on_outcome)
    await nc.subscribe("order.cancelled.v1", cb=on_outcome)
    sent: dict[str, float] = {}
    post_latency: list[float] = []

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200),
        headers={"Authorization": http.headers["Authorization"]},
    )

    async def place(i: int) -> float:
        began = time.perf_counter()
        async with session.post(
            f"{orders[i % len(orders)]}/orders",
            json={
                "customer_id": customer,
                "card_token": "tok_visa_ok",
                "delivery": {"method": "pickup"},
                "items": [{"product_id": str(products[i % len(products)]), "quantity": 1}],
            },
        ) as response:
            assert response.status == 201, await response.text()
            order_id = (await response.json())["order_id"]
        post_latency.append(time.perf_counter() - began)
        sent[order_id] = began
        return time.perf_counter() - began

    count = int(rate * seconds)
    began, cpu_began = time.perf_counter(), time.process_time()
    try:
        await open_loop(rate, count, place)
    finally:
        await session.close()
    generator = (time.process_time() - cpu_began) / (time.perf_counter() - began)
    deadline = time.perf_counter() + 60
    while len([o for o in sent if o in finished]) < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    elapsed = max(t for t, _ in finished.values()) - began
    saga = [finished[o][0] - t for o, t in sent.items() if o in finished]
    confirmed = sum(1 for o in sent if finished.get(o, (0, ""))[1] == "order.confirmed.v1")
    print(
        f"saga: {count} orders offered at {rate:g}/s over {seconds:g} s, "
        f"{replicas} order replica(s)"
    )
    print(f"  confirmed {confirmed}/{count}, {confirmed / elapsed:.1f} orders/s confirmed")
    print(f"  the load generator used {generator:.0%} of a core while sending")
    print(
        f"  POST -> confirmed  p50 {percentile(saga, 50) * 1000:.1f} ms  "
        f"p99 {percentile(saga, 99) * 1000:.1f} ms  max {max(saga) * 1000:.1f} ms"
    )
    print(
        f"  POST /orders       p50 {percentile(post_latency, 50) * 1000:.1f} ms  "
        f"p99 {percentile(post_latency, 99) * 1000:.1f} ms"
    )
    if hops:
        recorder.report(sorted(sent, key=sent.__getitem__))

    queries = int(query_rate * seconds / 2)
    await http.aclose()  # a fresh pool: the saga phase's connections may have idled out
    http = httpx.AsyncClient(timeout=30.0, limits=limits)

    async def query(i: int) -> float:
        start = time.perf_counter()
        response = await http.get(f"{urls['inventory']}/availability/{products[i % 20]}")
        assert response.status_code == 200
        return time.perf_counter() - start

    latencies = await open_loop(query_rate, queries, query)
    print(f"availability: {queries} GETs offered at {query_rate:g}/s")
    mean = statistics.mean(latencies) * 1000
    print(
        f"  p50 {percentile(latencies, 50) * 1000:.1f} ms  p99 "
        f"{percentile(latencies, 99) * 1000:.1f} ms  mean {mean:.1f} ms"
    )
    await http.aclose()
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--query-rate", type=float, default=200.0)
    parser.add_argument(
        "--order-replicas",
        type=int,
        default=1,
        help="order service processes on the same durable consumers",
    )
    parser.add_argument(
        "--hops",
        action="store_true",
        help="also time each hop of the saga (costs the load generator a few %% of a core)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.seconds, args.query_rate, args.order_replicas, args.hops))


if __name__ == "__main__":
    main()
