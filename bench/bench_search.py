"""Benchmark of the catalogue search (target P99 < 200 ms) over 10,000 products.

Starts embedded NATS and PostgreSQL (or uses A4CO_NATS_URL / A4CO_DATABASE_URL), seeds
the catalogue through the product service's own projection (`Catalogue.set_level` and
`Catalogue.add`, what the ArtisanVerified and NewProductListed handlers call) from a host
in this process, then runs the service as its own process (`python -m services.product`)
and offers a mix of searches at a fixed rate (open loop) over HTTP, half of them followed
by the next page, and prints p50/p99 per kind of query. Asserts nothing.

    .venv/bin/python bench/bench_search.py [--products 10000] [--sequential 500]
        [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from a4co.infra import start_infra
from generated.platform import STREAMS
from generated.product.models import NewProductListed
from runtime.eventstore.postgres import connection_of
from runtime.service import ServiceHost, Settings
from services.product.catalogue import Catalogue
from services.product.service import definition

CATEGORIES = {
    "olive_oil": ["Aceite de oliva virgen extra", "Aceite ecológico", "Aceite de oliva picual"],
    "ceramics": ["Plato de cerámica", "Fuente de cerámica vidriada", "Jarra de barro"],
    "textiles": ["Manta de lana", "Mantel bordado", "Alfombra de esparto"],
    "cheese": ["Queso curado de oveja", "Queso de cabra payoyo", "Queso semicurado"],
    "wine": ["Vino tinto de crianza", "Vino blanco afrutado", "Vino dulce de pasas"],
    "gastronomy": ["Miel de romero", "Aceitunas aliñadas", "Mermelada de higos"],
    "crafts": ["Cesta de mimbre", "Cuchara de madera de olivo", "Farol de forja"],
    "experiences": ["Cata de aceite", "Taller de alfarería", "Visita a la almazara"],
}
PLACES = ["Sierra Mágina", "Cazorla", "Úbeda", "Baeza", "Andújar", "Alcalá la Real", "Martos"]
ADJECTIVES = ["artesano", "tradicional", "ecológico", "de temporada", "premium", "familiar"]
PROVINCES = ["almeria", "cadiz", "cordoba", "granada", "huelva", "jaen", "malaga", "sevilla"]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def products(count: int, artisans: list[tuple[uuid.UUID, str]], rng: random.Random) -> list[Any]:
    """`count` NewProductListed of the artisans, with varied names, prices and dates."""
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        artisan_id, province = artisans[i % len(artisans)]
        category = rng.choice(list(CATEGORIES))
        name = f"{rng.choice(CATEGORIES[category])} {rng.choice(ADJECTIVES)} {i}"
        out.append(
            NewProductListed.model_validate(
                {
                    "product_id": uuid.uuid4(),
                    "artisan_id": artisan_id,
                    "name": name,
                    "description": f"Elaborado en {rng.choice(PLACES)} de forma "
                    f"{rng.choice(ADJECTIVES)}; {rng.choice(CATEGORIES[category]).lower()}.",
                    "category": category,
                    "price": {"amount_minor": rng.randrange(300, 12000), "currency": "EUR"},
                    "initial_stock": rng.randrange(0, 500),
                    "stock_threshold": 5,
                    "province": province,
                    "listed_at": now - timedelta(minutes=rng.randrange(0, 60 * 24 * 90)),
                }
            )
        )
    return out


async def seed(host: ServiceHost, count: int, rng: random.Random) -> list[uuid.UUID]:
    """Verify 200 artisans and list `count` products through the catalogue projection."""
    assert host.context is not None
    ctx, catalogue = host.context, Catalogue()
    artisans = [(uuid.uuid4(), rng.choice(PROVINCES)) for _ in range(200)]
    now = datetime.now(UTC)
    async with ctx.transaction() as tx:
        for artisan_id, _ in artisans:
            await catalogue.set_level(
                tx, artisan_id, rng.choice(["basic", "premium"]), now, now, None
            )
    # Sorted by artisan, so concurrent batches take the artisans' locks in one order.
    listed = sorted(products(count, artisans, rng), key=lambda m: str(m.artisan_id))

    async def add(batch: list[Any]) -> None:
        async with ctx.transaction() as tx:
            for message in batch:
                await catalogue.add(tx, message, now, None)

    for start in range(0, count, 2000):  # eight transactions at a time, as eight consumers
        await asyncio.gather(
            *(add(listed[i : i + 250]) for i in range(start, min(count, start + 2000), 250))
        )
    async with ctx.transaction() as tx:
        await connection_of(tx).execute("ANALYZE product.products")
    return [a for a, _ in artisans]


def query_mix(artisans: list[uuid.UUID], rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """The kinds of search offered, each with a parameter generator's sample."""
    words = ["aceite", "queso", "cerámica", "vino tinto", "miel romero", "ecológico", "cazorla"]
    return [
        ("text", {"q": rng.choice(words)}),
        ("text+category", {"q": "artesano", "category": rng.choice(list(CATEGORIES))}),
        ("text+province", {"q": rng.choice(words), "province": rng.choice(PROVINCES)}),
        (
            "category+price",
            {
                "category": rng.choice(list(CATEGORIES)),
                "min_price_minor": 1000,
                "max_price_minor": 4000,
            },
        ),
        ("province", {"province": rng.choice(PROVINCES)}),
        ("artisan", {"artisan_id": str(rng.choice(artisans))}),
        ("newest", {}),
    ]


def report(title: str, latencies: dict[str, list[float]]) -> None:
    """Print overall and per-kind percentiles of one phase."""
    everything = [v for values in latencies.values() for v in values]
    print(f"{title}: {len(everything)} timed searches")
    print(
        f"  {'all':<28} n={len(everything):<4} p50 {percentile(everything, 50) * 1000:6.1f} ms"
        f"  p99 {percentile(everything, 99) * 1000:6.1f} ms  max {max(everything) * 1000:6.1f} ms"
    )
    for kind, values in sorted(latencies.items()):
        print(
            f"  {kind:<28} n={len(values):<4} p50 {percentile(values, 50) * 1000:6.1f} ms"
            f"  p99 {percentile(values, 99) * 1000:6.1f} ms"
        )


async def measure(
    url: str, artisans: list[uuid.UUID], *, sequential: int, rate: float, seconds: float
) -> None:
    """Time searches one at a time, then offered at `rate`/s (open loop); print both.

    Every other search is followed by its next page (keyset, through `next_cursor`), and
    that second request is the one timed, so later pages are measured as well as first.
    """
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    latencies: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:

        async def search(i: int) -> None:
            kind, params = rng.choice(query_mix(artisans, rng))
            params["limit"] = 20
            began = time.perf_counter()
            first = await http.get("/products", params=params)
            took = time.perf_counter() - began
            assert first.status_code == 200, first.text
            cursor = first.json().get("next_cursor")
            if i % 2 and cursor:
                began = time.perf_counter()
                response = await http.get("/products", params={**params, "cursor": cursor})
                assert response.status_code == 200, response.text
                kind, took = f"{kind} (page 2)", time.perf_counter() - began
            latencies.setdefault(kind, []).append(took)

        for i in range(50):  # warm the pool and the server
            await search(i)
        latencies.clear()
        for i in range(sequential):
            await search(i)
        report("one at a time (closed loop)", latencies)
        latencies.clear()
        start, tasks = time.perf_counter(), []
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(search(i)))
        await asyncio.gather(*tasks)
        report(f"offered at {rate:g}/s for {seconds:g} s (open loop)", latencies)


async def serve_product(nats_url: str, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m services.product` as a process of its own, once it answers /readyz."""
    port = free_port()
    env = {
        **os.environ,
        "A4CO_NATS_URL": nats_url,
        "A4CO_DATABASE_URL": database_url,
        "A4CO_LISTEN_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.product"], env=env, cwd=Path(__file__).parent.parent
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    return process, url
            await asyncio.sleep(0.05)
    process.terminate()
    raise RuntimeError("the product service did not become ready within 30 s")


async def run(count: int, sequential: int, rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory(
        prefix="a4co-bench-", dir=os.environ.get("A4CO_BENCH_DIR")
    ) as folder:
        infra = await asyncio.to_thread(start_infra, Path(folder), redis=False)
        try:
            nats_url, database_url = infra.urls.nats_url or "", infra.urls.database_url or ""
            settings = Settings(service="product", nats_url=nats_url, database_url=database_url)
            host = ServiceHost(definition(), settings, STREAMS)
            await host.start()
            began = time.perf_counter()
            try:
                artisans = await seed(host, count, random.Random(42))
            finally:
                await host.stop()
            print(f"seeded {count} products in {time.perf_counter() - began:.1f} s")
            process, url = await serve_product(nats_url, database_url)
            try:
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine)")
                await measure(url, artisans, sequential=sequential, rate=rate, seconds=seconds)
            finally:
                process.terminate()
                process.wait(timeout=10)
        finally:
            await asyncio.to_thread(infra.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run(args.products, args.sequential, args.rate, args.seconds))


if __name__ == "__main__":
    main()
