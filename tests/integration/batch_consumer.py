"""A consumer whose handler records every application of a message, for the batch tests.

Imported by `test_batch_handling.py`, and run as a script by its kill -9 test:
`python batch_consumer.py NATS_URL DATABASE_URL UID` consumes with the real runner, and
kills itself with SIGKILL right after the first unit of work commits, before any ack.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import asyncpg
import nats
from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script, too

from runtime.bus import Channel, ConsumerPolicy, MessageContext, Subscription, bind_handlers
from runtime.bus.failures import PermanentError
from runtime.bus.nats import ConsumerRunner, NatsEventSink
from runtime.eventstore.postgres import PostgresEventStore, connection_of
from runtime.service import ServiceContext, Settings

POLICY = ConsumerPolicy(max_deliver=3, ack_wait=3.0, backoff=(0.05, 0.1), concurrency=1, batch=64)


class Tick(BaseModel):
    """A test message: `n` counts, `key` orders, `poison` makes its handler fail for good.

    `n` is bounded as a generated model bounds `format: int64`; the `applied` table keeps it
    in an `integer` column, so a tick beyond int32 fails in PostgreSQL, as a data error."""

    model_config = ConfigDict(extra="forbid")
    n: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    key: str
    poison: bool = False


@dataclass(frozen=True)
class Names:
    """A test's stream, subject, schema and service names, unique to it."""

    uid: str

    @property
    def stream(self) -> str:
        return f"B{self.uid}"

    @property
    def schema(self) -> str:
        return f"batch_{self.uid}"

    @property
    def service(self) -> str:
        return f"batch{self.uid}"

    @property
    def channel(self) -> Channel[Tick]:
        return Channel(
            subject=f"b{self.uid}.tick.v1", message="Tick", model=Tick, kind="event", owner="t"
        )

    def subscription(self, policy: ConsumerPolicy = POLICY) -> Subscription:
        return Subscription(
            channel=self.channel,
            stream=self.stream,
            durable=f"{self.service}-on-tick",
            handler="on_tick",
            operation="receiveTick",
            policy=policy,
        )


@dataclass
class Ticks:
    """Handlers that write one `applied` row per application, in the message's transaction."""

    ctx: ServiceContext
    schema: str
    pushed: list[int] = field(default_factory=list)
    """The `n` of each message whose after-commit effect ran."""

    async def on_tick(self, message: Tick, context: MessageContext) -> None:
        """Record the application, with the transaction's id; a poison tick fails after."""
        async with self.ctx.handling(context, "on_tick") as tx:
            if tx is None:
                return
            await connection_of(tx).execute(
                f'INSERT INTO "{self.schema}".applied (n, key, xid)'
                " VALUES ($1, $2, txid_current())",
                message.n,
                message.key,
            )
            if message.poison:
                raise PermanentError(f"tick {message.n} is poison")
            self.ctx.after_commit(lambda: self._push(message.n))

    async def _push(self, n: int) -> None:
        self.pushed.append(n)


async def prepare(pool: asyncpg.Pool, names: Names) -> PostgresEventStore:
    """The test's event store schema and its `applied` table."""
    store = PostgresEventStore(pool, names.schema)
    await store.migrate()
    await pool.execute(
        f'CREATE TABLE IF NOT EXISTS "{names.schema}".applied'
        " (id bigserial PRIMARY KEY, n integer NOT NULL, key text NOT NULL, xid bigint NOT NULL)"
    )
    return store


def context_for(
    names: Names, store: PostgresEventStore, nc: Client, urls: Sequence[str]
) -> ServiceContext:
    """A service context on the real store, as the host builds it."""
    settings = Settings(service=names.service, nats_url=urls[0], database_url=urls[1])
    return ServiceContext(settings, store, NatsEventSink(nc))


async def runner_for(
    nc: Client, ctx: ServiceContext, handlers: Ticks, names: Names, **options: object
) -> ConsumerRunner:
    """A started runner of the test's subscription, with the context's unit of work."""
    policy = options.pop("policy", POLICY)
    bound = bind_handlers(names.service, handlers, (names.subscription(policy),))  # type: ignore[arg-type]
    unit = options.pop("unit_of_work", ctx.unit_of_work)
    runner = ConsumerRunner(
        nc,
        names.service,
        bound,
        fetch_timeout=0.2,
        unit_of_work=unit,
        **options,  # type: ignore[arg-type]
    )
    await runner.start()
    return runner


async def _die_after_first_commit(nats_url: str, database_url: str, uid: str) -> None:
    names = Names(uid)
    nc = await nats.connect(nats_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    store = await prepare(pool, names)
    ctx = context_for(names, store, nc, (nats_url, database_url))

    @asynccontextmanager
    async def dying_unit(
        subscription: Subscription, contexts: Sequence[MessageContext]
    ) -> AsyncIterator[None]:
        async with ctx.unit_of_work(subscription, contexts):
            yield
        print(f"committed {len(contexts)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # committed, and not one ack sent

    await runner_for(nc, ctx, Ticks(ctx, names.schema), names, unit_of_work=dying_unit)
    await asyncio.sleep(60)  # killed long before


if __name__ == "__main__":
    asyncio.run(_die_after_first_commit(*sys.argv[1:4]))
