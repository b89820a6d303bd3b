"""The composition root of a running service: connections, relay, consumers, jobs, HTTP.

`ServiceHost.start()` connects to PostgreSQL and NATS, migrates the service's schema,
provisions the platform's streams, starts the outbox relay, the durable consumers and the
periodic jobs; `app` is the service's FastAPI app. `serve()` adds uvicorn for a process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI
from nats.aio.client import Client

from runtime.bus.base import StreamSpec, Subscription, bind_handlers
from runtime.bus.nats_connect import connect
from runtime.bus.nats_consumer import ConsumerRunner
from runtime.bus.nats_publisher import NatsEventSink, ensure_streams
from runtime.bus.permissions import inbox_prefix
from runtime.errors import ConfigurationError
from runtime.eventstore.postgres import InboxConnection, PostgresEventStore
from runtime.http.app import create_app
from runtime.http.auth import JwksVerifier, TokenVerifier
from runtime.http.revocation import RedisRevocations
from runtime.observability import PlatformMetrics, Tracing
from runtime.outbox.postgres import PostgresOutbox
from runtime.outbox.relay import OutboxRelay
from runtime.service.context import ServiceContext
from runtime.service.jetstream import JetStreamRawPublisher
from runtime.service.settings import Settings
from runtime.spans import install_tracer_provider
from runtime.upcasting import Upcasters, VersionStep, require

__all__ = [
    "Job",
    "ServiceDefinition",
    "ServiceHost",
    "migrate_tables",
    "serve",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic task of a service (a deadline scanner, an expiry sweep)."""

    name: str
    interval: float
    run: Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """What a service provides the host: its subscriptions, handlers, routers and jobs."""

    name: str
    subscriptions: tuple[Subscription, ...]
    handlers: Callable[[ServiceContext], object]
    routers: Callable[[ServiceContext], Sequence[APIRouter]] = lambda _: ()
    migrate: Callable[[Any], Awaitable[None]] | None = None
    jobs: Callable[[ServiceContext, Any], Sequence[Job]] = lambda _ctx, _handlers: ()
    """Periodic jobs, given the context and the service's handlers instance."""
    verifier: Callable[[ServiceContext], TokenVerifier] | None = None
    """The service's own token verifier (auth's key store); others use the JWKS URL."""
    public: bool = False
    """True when no operation needs a token, so no JWKS URL is needed (geo)."""
    versions: tuple[VersionStep, ...] = ()
    """The steps between versions it uses, checked at start so a missing hook stops it at
    once: its publisher's downcasts to versions it still sends (its events module's
    `VERSION_STEPS`), and the upcasts its event store applies to older stored events
    (`generated.versions.STEPS`, for a service whose streams hold events of a message
    that has a newer version)."""


@dataclass
class ServiceHost:
    """Runs one service in the current event loop until `stop()`."""

    definition: ServiceDefinition
    settings: Settings
    streams: tuple[StreamSpec, ...]
    verifier: TokenVerifier | None = None
    """Overrides how tokens are verified (tests pass a `SigningKey`)."""
    context: ServiceContext | None = None
    app: FastAPI | None = None
    metrics: PlatformMetrics | None = None
    _pool: Any = None
    _outbox_pool: Any = None
    _nc: Client | None = None
    _runner: ConsumerRunner | None = None
    _outbox: PostgresOutbox | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> FastAPI:
        """Connect, migrate, provision, and start relaying, consuming and the jobs."""
        name = self.definition.name
        require(self.definition.versions)
        self._pool = await asyncpg.create_pool(
            self.settings.database_url,
            min_size=2,
            max_size=12,
            reset=_keep_session,
            connection_class=InboxConnection,  # a handler's inbox rows go with its BEGIN
            server_settings={"application_name": f"a4co-{name}"},  # named in pg_stat_activity
        )
        store = PostgresEventStore(self._pool, name, Upcasters(self.definition.versions))
        await store.migrate()
        if self.definition.migrate is not None:
            async with self._pool.acquire() as connection:
                await migrate_tables(connection, name, self.definition.migrate)
        self._nc = await connect(  # every server of a cluster's list, reconnecting forever
            self.settings.nats_url,
            name=f"a4co-{name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            # Its own inboxes: the bus lets an identity subscribe to `_INBOX_<service>.>` only.
            inbox_prefix=inbox_prefix(name),
        )
        if not self.settings.streams_provisioned:
            await ensure_streams(self._nc.jetstream(), self.streams)
        self.context = ServiceContext(self.settings, store, NatsEventSink(self._nc))
        self.metrics = PlatformMetrics(name)
        self.context.extras["metrics"] = self.metrics
        self.context.extras["nats"] = self._nc
        install_tracer_provider(name)
        # The relay gets connections of its own: behind busy handlers on the shared pool it
        # would publish late, and late publishing starves every service downstream.
        self._outbox_pool = await asyncpg.create_pool(
            self.settings.database_url,
            min_size=2,
            max_size=3,
            reset=_keep_session,
            server_settings={"application_name": f"a4co-{name}-outbox"},
        )
        self._outbox = PostgresOutbox(
            self._outbox_pool, name, appends=store.appends, committed=store.committed
        )
        relay = OutboxRelay(
            self._outbox, JetStreamRawPublisher(self._nc), poll_interval=1.0, retry_delay=0.5
        )
        self.context.extras["relay"] = relay
        self._tasks.append(asyncio.create_task(_supervise(f"{name} outbox relay", relay.run)))
        handlers = self.definition.handlers(self.context)
        bound = bind_handlers(name, handlers, self.definition.subscriptions)
        self._runner = ConsumerRunner(
            self._nc,
            name,
            bound,
            observe=self.metrics.handled,
            span=Tracing(name).consuming,
            unit_of_work=self.context.unit_of_work,
        )
        await self._runner.start()
        jobs = [
            *self.definition.jobs(self.context, handlers),
            Job(f"{name} gauges", 2.0, lambda: self._gauges(relay, bound)),
        ]
        for job in jobs:
            self._tasks.append(asyncio.create_task(_every(job)))
        routers = list(self.definition.routers(self.context))
        self.app = create_app(
            name,
            routers,
            readiness=[self._database_ready, self._bus_ready],
            registry=self.metrics.registry,
            tracing=True,
            verifier=self._token_verifier(self.context) if routers else None,
            revocations=RedisRevocations.connect(self.settings.redis_url, self.context.on_stop)
            if routers
            else None,
        )
        return self.app

    def _token_verifier(self, context: ServiceContext) -> TokenVerifier | None:
        """The injected verifier, the service's own, or one on the auth service's JWKS."""
        if self.verifier is not None:
            return self.verifier
        if self.definition.verifier is not None:
            return self.definition.verifier(context)
        if self.settings.jwks_url:
            return JwksVerifier(self.settings.jwks_url)
        if self.definition.public:
            return None
        raise ConfigurationError(
            f"the {self.definition.name} service verifies tokens and needs A4CO_AUTH_URL "
            "or A4CO_JWKS_URL; `make run` sets them"
        )

    async def stop(self) -> None:
        """Stop consuming, relaying and the jobs, then close the connections."""
        if self._runner is not None:
            await self._runner.stop()
        await cancel_all(self._tasks)
        self._tasks.clear()
        if self.context is not None:
            while self.context.closers:
                await self.context.closers.pop()()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        for pool in (self._outbox_pool, self._pool):
            if pool is not None:
                await pool.close()

    async def _gauges(self, relay: OutboxRelay, bound: tuple[Any, ...]) -> None:
        """Refresh the outbox backlog and each durable consumer's lag."""
        assert self._nc is not None and self.metrics is not None
        self.metrics.outbox_backlog.labels(self.definition.name).set(await relay.pending_count())
        js = self._nc.jetstream()
        for b in bound:
            sub = b.subscription
            info = await js.consumer_info(sub.stream, sub.durable)
            self.metrics.consumer_lag.labels(self.definition.name, sub.durable).set(
                info.num_pending or 0
            )

    async def _database_ready(self) -> bool:
        try:
            return bool(await self._pool.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError):
            return False

    async def _bus_ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected


async def migrate_tables(
    connection: Any, name: str, migrate: Callable[[Any], Awaitable[None]]
) -> None:
    """Run a service's own migration, one replica at a time, each statement on its own.

    Not in one transaction: `CREATE INDEX IF NOT EXISTS` takes a SHARE lock on its table
    even when the index exists, and a transaction would hold each lock to its end. A
    replica restarted under load then held the orders view's lock while waiting for the
    sagas table's, as the running replica's orders took them the other way: a deadlock,
    and a failed start. Replicas start together, so a session lock keeps them apart.
    """
    key = f"a4co.migrate.{name}.tables"
    await connection.execute("SELECT pg_advisory_lock(hashtext($1))", key)
    try:
        await migrate(connection)
    finally:
        await connection.execute("SELECT pg_advisory_unlock(hashtext($1))", key)


async def _keep_session(connection: Any) -> None:
    """Give a connection back to the pool as it is, without asyncpg's reset query.

    The default reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is one
    more round trip and statement for every transaction. Nothing in the platform leaves
    session state behind: locks are transaction-scoped (`pg_advisory_xact_lock`), settings
    are `SET LOCAL`, and the one LISTEN holds its connection until the service stops.
    asyncpg still rolls back a transaction left open and drops listeners on release.
    """


async def cancel_all(tasks: Sequence[asyncio.Task[Any]], *, again_after: float = 1.0) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again those still
    running after `again_after` seconds.

    Once is not always enough on Python 3.11: `asyncio.wait_for` returns its future's
    result when the future completes in the same loop iteration as the cancellation, and
    the cancellation is lost (fixed in 3.12). A job's loop that lost it in a NATS request
    (`consumer_info` of the gauges job) ran on, and the host's stop waited for it forever.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after)
        for task in pending:
            logger.warning("%s is still running after its cancellation: cancelling again", task)
    await asyncio.gather(*tasks, return_exceptions=True)  # all ended: collect what they raised


async def _supervise(what: str, run: Callable[[], Awaitable[None]]) -> None:
    """Run a loop forever; when it fails (a server restarted), log and start it again."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:  # logged and restarted: a loop must outlive a server restart
            logger.warning("%s stopped; restarting it", what, exc_info=True)
            await asyncio.sleep(0.5)


async def _every(job: Job) -> None:
    async def loop() -> None:
        while True:
            await job.run()
            await asyncio.sleep(job.interval)

    await _supervise(job.name, loop)


GC_THRESHOLD = (10_000, 10, 10)
"""The collector's thresholds in a serving process (CPython's are 700, 10, 10)."""


def collect_less() -> None:
    """Tune the cycle collector for a long-running service, once it has started.

    What start-up built (modules, the app, models, pools) lives as long as the process:
    `gc.freeze()` moves it out of the collector's sight, so no full collection walks it
    again. A message or request allocates thousands of objects that reference counting
    frees; with CPython's first threshold (700) the young generation was collected every
    few messages (py-spy: 3.4 % of the order service in `gc_collect_main`). At 10,000 it is
    collected about 14 times less often, each time finding about as few survivors.
    Cyclic garbage waits a little longer to be freed.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def serve(host: ServiceHost) -> None:
    """Start the host, serve its app with uvicorn until interrupted, then stop cleanly."""
    app = await host.start()
    collect_less()
    config = uvicorn.Config(
        app,
        host=host.settings.http_host,
        port=host.settings.http_port,
        log_level="warning",
        lifespan="off",
        http="httptools",  # the C parser: less CPU per request than h11
        # Open event streams end only when the host stops, after uvicorn: don't wait forever.
        timeout_graceful_shutdown=5,
        access_log=False,
        timeout_keep_alive=30,  # callers keep pooled connections; don't close them under them
        # The client is the socket's peer: a forwarded-for header is the gateway's to judge.
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    try:
        await server.serve()
    finally:
        await host.stop()
