"""A handler's transaction: BEGIN, its inbox row, COMMIT, on a plain and an InboxConnection.

Run `python bench/bench_inbox.py [--n 3000] [--rounds 3]`. It starts an embedded PostgreSQL
(or uses A4CO_DATABASE_URL) and opens `n` inbox transactions with nothing else in them,
one after the other on a one-connection pool, each with a new message id, two ways:

- baseline: a pool of asyncpg's own connections, `BEGIN`, then the prepared inbox insert
  (two round trips before the handler's first statement);
- a pool of `InboxConnection`s, as services get: the inbox insert in `BEGIN`'s simple query.

Per transaction it prints wall µs, this process's CPU-µs (`time.process_time`), the
server backend's CPU-µs (`/proc/<pid>/stat`, embedded server only), and the ratios. The
rounds alternate the two ways. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from a4co.infra import start_postgres
from runtime.eventstore.postgres import InboxConnection, PostgresEventStore

WAYS = {"baseline: BEGIN, then the insert": asyncpg.Connection, "InboxConnection": InboxConnection}


def backend_cpu(pid: int) -> float | None:
    """The backend's user + system CPU seconds, or None when it is not on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_way(url: str, connection_class: type, n: int) -> tuple[float, float, float | None]:
    """(wall µs, client CPU-µs, server CPU-µs or None) per inbox transaction."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1, connection_class=connection_class)
    try:
        store = PostgresEventStore(pool, "bench_inbox")
        await store.migrate()
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        server, client, wall = backend_cpu(pid), time.process_time(), time.perf_counter()
        for _ in range(n):
            async with store.inbox_transaction("bench.handler", [str(uuid.uuid4())]):
                pass
        wall, client = time.perf_counter() - wall, time.process_time() - client
        after = backend_cpu(pid)
        used = None if server is None or after is None else after - server
        return wall / n * 1e6, client / n * 1e6, None if used is None else used / n * 1e6
    finally:
        await pool.close()


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="a4co-bench-inbox-") as folder:
        server = await asyncio.to_thread(start_postgres, Path(folder))
        try:
            figures: dict[str, list[tuple[float, float, float | None]]] = {w: [] for w in WAYS}
            for round_ in range(rounds):
                order = list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))
                for way in order:
                    figures[way].append(await one_way(server.url, WAYS[way], n))
            print(f"{n} inbox transactions a way, {rounds} rounds ({server.name} at {server.url})")
            print(f"  {'':34s} {'wall µs':>9s} {'client CPU-µs':>14s} {'server CPU-µs':>14s}")
            means = {}
            for way, runs in figures.items():
                wall = sum(r[0] for r in runs) / len(runs)
                client = sum(r[1] for r in runs) / len(runs)
                servers = [r[2] for r in runs if r[2] is not None]
                server_cpu = sum(servers) / len(servers) if servers else None
                means[way] = (wall, client, server_cpu)
                shown = "n/a" if server_cpu is None else f"{server_cpu:.0f}"
                print(f"  {way:34s} {wall:9.0f} {client:14.0f} {shown:>14s}")
            base, new = (means[w] for w in WAYS)
            print(
                f"  ratio (InboxConnection / baseline): wall {new[0] / base[0]:.2f},"
                f" client CPU {new[1] / base[1]:.2f}"
                + (f", server CPU {new[2] / base[2]:.2f}" if new[2] is not None and base[2] else "")
            )
        finally:
            await asyncio.to_thread(server.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
