"""The event store's abstract suite, run against the memory fake and real PostgreSQL.

Every test takes the `store` fixture, so the fake and the backend answer the same questions.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from runtime.bus.base import Channel
from runtime.errors import ConcurrencyError, ConfigurationError, ContractError
from runtime.eventstore import (
    DuplicateEventError,
    EventStore,
    NewEvent,
    StoreUnavailableError,
    StreamAppend,
    Transaction,
    VersionConflictError,
    retrying,
)
from runtime.eventstore.memory import MemoryEventStore
from runtime.eventstore.postgres import InboxConnection, PostgresEventStore
from runtime.outbox.sink import StreamSink


class Ping(BaseModel):
    """A message for the sink tests."""

    n: int


PING = Channel(subject="t.ping.v1", message="Ping", model=Ping, kind="event", owner="tester")


@pytest.fixture(params=["memory", "postgres", "postgres-inbox"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend's name and the database URL (None for the memory fake, so its runs start
    no server). `postgres-inbox` is a pool of `InboxConnection`s, as services get."""
    if request.param == "memory":
        return "memory", None
    url: str = request.getfixturevalue("database_url")
    return request.param, url


@pytest.fixture
async def store(
    backend: tuple[str, str | None], unique_id: str, queries: list[str]
) -> AsyncIterator[EventStore]:
    """An empty event store: the fake, or a fresh schema in the session's database."""
    name, url = backend
    if url is None:
        yield MemoryEventStore()
        return
    schema = f"es_{unique_id}"

    async def log_queries(connection: Any) -> None:
        connection.add_query_logger(lambda record: queries.append(record.query))

    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=10,
        init=log_queries,
        connection_class=InboxConnection if name == "postgres-inbox" else asyncpg.Connection,
    )
    try:
        postgres = PostgresEventStore(pool, schema)
        await postgres.migrate()
        yield postgres
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


@pytest.fixture
def queries() -> list[str]:
    """Every query the PostgreSQL backends' connections sent, in order."""
    return []


def order_created(n: int, aggregate_id: str = "order-1") -> NewEvent:
    """An `order.created` event whose payload carries `n`."""
    return NewEvent(
        type="a4co.order.created.v1",
        subject="order.created.v1",
        payload=json.dumps({"n": n}).encode(),
        aggregate_id=aggregate_id,
        headers={"correlation-id": f"corr-{n}", "causation-id": f"cause-{n}"},
    )


async def test_appended_events_load_back_in_order(store: EventStore, unique_id: str) -> None:
    stream = f"order-{unique_id}"
    sent = [order_created(n) for n in range(3)]

    recorded = await store.append(stream, 0, sent)
    loaded = await store.load(stream)

    assert [e.version for e in loaded] == [1, 2, 3]
    assert [e.event_id for e in loaded] == [e.event_id for e in sent]
    assert [e.json() for e in loaded] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert loaded[0].type == "a4co.order.created.v1"
    assert loaded[0].subject == "order.created.v1"
    assert loaded[0].aggregate_id == "order-1"
    assert dict(loaded[2].headers) == {"correlation-id": "corr-2", "causation-id": "cause-2"}
    assert [e.position for e in loaded] == [e.position for e in recorded]
    assert [e.version for e in await store.load(stream, after_version=2)] == [3]


async def test_version_conflict_raises_and_the_losing_append_writes_nothing(
    store: EventStore, unique_id: str
) -> None:
    stream = f"order-{unique_id}"
    await store.append(stream, 0, [order_created(1)])
    loser = order_created(2)

    with pytest.raises(VersionConflictError) as caught:
        await store.append(stream, 0, [loser])

    assert isinstance(caught.value, ConcurrencyError)
    assert caught.value.stream_id == stream
    assert caught.value.expected == 0
    assert stream in str(caught.value)
    assert [e.json() for e in await store.load(stream)] == [{"n": 1}]
    assert loser.event_id not in {e.event_id for e in await store.read_all(0, 1000)}


async def test_an_event_id_is_recorded_once(store: EventStore, unique_id: str) -> None:
    event = order_created(1)
    await store.append(f"order-a-{unique_id}", 0, [event])

    with pytest.raises(DuplicateEventError):
        await store.append(f"order-b-{unique_id}", 0, [event])

    assert await store.load(f"order-b-{unique_id}") == []


async def test_concurrent_appenders_with_retrying_lose_no_update(
    store: EventStore, unique_id: str
) -> None:
    stream = f"counter-{unique_id}"
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        events = await store.load(stream)
        await asyncio.sleep(0)  # let the others load the same version
        try:
            await store.append(stream, len(events), [order_created(len(events) + 1)])
        except ConcurrencyError:
            conflicts += 1
            raise

    await asyncio.gather(*(retrying(increment, attempts=60) for _ in range(20)))

    loaded = await store.load(stream)
    assert conflicts > 0  # the appenders did contend
    assert [e.version for e in loaded] == list(range(1, 21))
    assert [e.json() for e in loaded] == [{"n": n} for n in range(1, 21)]


async def test_retrying_gives_up_after_its_attempts(store: EventStore, unique_id: str) -> None:
    stream = f"order-{unique_id}"
    await store.append(stream, 0, [order_created(1)])
    calls = 0

    async def stale_append() -> None:
        nonlocal calls
        calls += 1
        await store.append(stream, 0, [order_created(2)])

    with pytest.raises(VersionConflictError):
        await retrying(stale_append, attempts=3, delay=0)
    assert calls == 3


async def test_snapshot_keeps_the_newest_version(store: EventStore, unique_id: str) -> None:
    stream = f"order-{unique_id}"
    assert await store.load_snapshot(stream) is None

    await store.save_snapshot(stream, 5, b'{"total": 5}')
    await store.save_snapshot(stream, 3, b'{"total": 3}')
    snapshot = await store.load_snapshot(stream)

    assert snapshot is not None
    assert (snapshot.version, snapshot.state) == (5, b'{"total": 5}')
    await store.save_snapshot(stream, 8, b"\x00binary")
    newest = await store.load_snapshot(stream)
    assert newest is not None
    assert (newest.version, newest.state) == (8, b"\x00binary")


async def test_read_all_returns_every_stream_in_position_order(
    store: EventStore, unique_id: str
) -> None:
    await store.append(f"a-{unique_id}", 0, [order_created(1), order_created(2)])
    await store.append(f"b-{unique_id}", 0, [order_created(3)])
    await store.append(f"a-{unique_id}", 2, [order_created(4)])

    everything = await store.read_all(0, 100)
    first_two = await store.read_all(0, 2)
    rest = await store.read_all(first_two[-1].position, 100)

    assert [e.json() for e in everything] == [{"n": n} for n in (1, 2, 3, 4)]
    positions = [e.position for e in everything]
    assert positions == sorted(set(positions))
    assert first_two + rest == everything


async def test_duplicate_delivery_is_applied_once(store: EventStore, unique_id: str) -> None:
    stream = f"order-{unique_id}"
    message_id = str(uuid.uuid4())

    async def handle() -> bool:
        async with store.transaction() as tx:
            if await tx.seen(message_id, "order-projector"):
                return False
            events = await tx.load(stream)
            await tx.append(stream, len(events), [order_created(len(events) + 1)])
            return True

    applied = await asyncio.gather(handle(), handle(), handle())
    applied_again = await handle()

    assert sorted(applied) == [False, False, True]
    assert applied_again is False
    assert [e.version for e in await store.load(stream)] == [1]
    async with store.transaction() as tx:
        assert await tx.seen(message_id, "another-consumer") is False


async def test_a_failed_transaction_leaves_no_inbox_record_and_no_events(
    store: EventStore, unique_id: str
) -> None:
    stream = f"order-{unique_id}"
    message_id = str(uuid.uuid4())

    with pytest.raises(RuntimeError, match="handler failed"):
        async with store.transaction() as tx:
            assert await tx.seen(message_id, "order-projector") is False
            await tx.append(stream, 0, [order_created(1)])
            await tx.set_checkpoint("orders", 7)
            raise RuntimeError("handler failed")

    assert await store.load(stream) == []
    assert await store.checkpoint("orders") == 0
    async with store.transaction() as tx:
        assert await tx.seen(message_id, "order-projector") is False


async def test_checkpoint_commits_with_the_read_model_and_rebuild_resets_it(
    store: EventStore, unique_id: str
) -> None:
    truncated: list[str] = []

    async def truncate(tx: Transaction) -> None:
        truncated.append("orders")

    async with store.transaction() as tx:
        assert await tx.checkpoint("orders") == 0
        await tx.set_checkpoint("orders", 41)
        assert await tx.checkpoint("orders") == 41
    await store.rebuild("orders", truncate)

    assert await store.checkpoint("orders") == 0
    assert truncated == ["orders"]


# PostgreSQL only: the schema's migration, and a handler's own SQL in the transaction.


@pytest.fixture
async def pg_store(database_url: str, unique_id: str) -> AsyncIterator[PostgresEventStore]:
    """A PostgreSQL event store in a fresh schema, migrated by two callers at once."""
    schema = f"es_{unique_id}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    try:
        postgres = PostgresEventStore(pool, schema)
        await asyncio.gather(postgres.migrate(), postgres.migrate())
        await postgres.migrate()
        yield postgres
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def test_migrate_is_idempotent_and_creates_the_tables(pg_store: PostgresEventStore) -> None:
    async with pg_store.transaction() as tx:
        tables = await tx.connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            pg_store.schema,
        )
    assert {row["table_name"] for row in tables} == {"events", "snapshots", "inbox", "checkpoints"}


async def test_a_connection_cut_mid_transaction_is_store_unavailable(
    pg_store: PostgresEventStore, database_url: str
) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            async with pg_store.transaction() as tx:
                pid = await tx.connection.fetchval("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)  # as a restart does
                await tx.connection.fetchval("SELECT 1")
    finally:
        await admin.close()
    assert isinstance(caught.value.__cause__, asyncpg.PostgresError | asyncpg.InterfaceError)
    async with pg_store.transaction() as tx:  # the pool replaces the connection it lost
        assert await tx.connection.fetchval("SELECT 1") == 1


async def test_no_connection_slot_left_is_store_unavailable(
    pg_store: PostgresEventStore, database_url: str, unique_id: str
) -> None:
    # PostgreSQL out of connection slots (max_connections, or a role's limit) refuses new
    # sessions with 53300: the store is unavailable for now, which a request answers 503.
    role = f"a4co_full_{unique_id}"[:63].lower().replace("-", "_")
    admin = await asyncpg.connect(database_url)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'full' CONNECTION LIMIT 0")
    pool = await asyncpg.create_pool(database_url, user=role, password="full", min_size=0)
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            async with PostgresEventStore(pool, pg_store.schema).transaction():
                pass
    finally:
        await pool.close()
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()
    assert isinstance(caught.value.__cause__, asyncpg.TooManyConnectionsError)


async def test_a_handlers_error_inside_a_transaction_is_left_as_it_is(
    pg_store: PostgresEventStore,
) -> None:
    with pytest.raises(TimeoutError):
        async with pg_store.transaction():
            raise TimeoutError("a handler's own wait")


async def test_a_handlers_sql_commits_with_its_inbox_record(pg_store: PostgresEventStore) -> None:
    async with pg_store.transaction() as tx:
        await tx.connection.execute(
            f'CREATE TABLE "{pg_store.schema}".order_totals (id text PRIMARY KEY, total int)'
        )

    async def on_order_created(message_id: str, fail: bool = False) -> None:
        async with pg_store.transaction() as tx:
            if await tx.seen(message_id, "totals"):
                return
            await tx.connection.execute(
                f'INSERT INTO "{pg_store.schema}".order_totals VALUES ($1, 1)'
                " ON CONFLICT (id) DO UPDATE SET total = order_totals.total + 1",
                "order-1",
            )
            if fail:
                raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await on_order_created("m-1", fail=True)
    await on_order_created("m-1")
    await on_order_created("m-1")
    await on_order_created("m-2")

    async with pg_store.transaction() as tx:
        total = await tx.connection.fetchval(
            f'SELECT total FROM "{pg_store.schema}".order_totals WHERE id = $1', "order-1"
        )
    assert total == 2


def test_a_bad_schema_name_fails_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="'Order; drop'"):
        PostgresEventStore(None, "Order; drop")


def test_an_event_whose_payload_is_not_json_is_refused() -> None:
    with pytest.raises(ContractError, match="is not JSON"):
        NewEvent("a4co.order.created.v1", "order.created.v1", b"{oops", "order-1")


async def test_unseen_records_many_messages_at_once_and_names_only_the_new(
    store: EventStore, unique_id: str
) -> None:
    async with store.transaction() as tx:
        assert await tx.seen("m1", f"batch-{unique_id}") is False
    async with store.transaction() as tx:
        unseen = await tx.unseen(["m1", "m2", "m3", "m2"], f"batch-{unique_id}")
        assert unseen == {"m2", "m3"}
        assert await tx.seen("m3", f"batch-{unique_id}") is True
    async with store.transaction() as tx:
        assert await tx.unseen(["m1", "m2", "m3"], f"batch-{unique_id}") == set()
        assert await tx.unseen(["m1"], f"other-{unique_id}") == {"m1"}


async def test_an_append_at_the_end_needs_no_version_and_follows_the_stream(
    store: EventStore, unique_id: str
) -> None:
    stream = f"order-{unique_id}"
    await store.append(stream, 0, [order_created(1)])

    recorded = await store.append(stream, None, [order_created(2), order_created(3)])

    assert [e.version for e in recorded] == [2, 3]
    assert [e.json() for e in await store.load(stream)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [
        e.version for e in await store.append(f"new-{unique_id}", None, [order_created(4)])
    ] == [1]


async def test_two_transactions_appending_at_the_end_at_once_do_not_both_commit(
    store: EventStore, unique_id: str
) -> None:
    """Which one loses differs (PostgreSQL makes the second wait for the first's commit; the
    fake checks at the commit), but one of them must."""
    stream = f"order-{unique_id}"
    await store.append(stream, 0, [order_created(1)])
    first_appended = asyncio.Event()

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.append(stream, None, [order_created(2)])
            first_appended.set()
            await asyncio.sleep(0.2)  # hold the transaction open while the second appends

    async def second() -> None:
        await first_appended.wait()
        async with store.transaction() as tx:
            await tx.append(stream, None, [order_created(3)])

    outcomes = await asyncio.gather(first(), second(), return_exceptions=True)

    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "VersionConflictError"]
    loaded = [e.json() for e in await store.load(stream)]
    assert loaded in ([{"n": 1}, {"n": 2}], [{"n": 1}, {"n": 3}])


async def test_a_buffer_is_flushed_before_a_read_and_before_the_commit(
    store: EventStore, unique_id: str
) -> None:
    stream = f"order-{unique_id}"
    flushes: list[int] = []

    async with store.transaction() as tx:
        held = [order_created(1)]

        async def flush() -> None:
            flushes.append(len(held))
            if held:
                await tx.append(stream, None, held.copy())
                held.clear()

        tx.buffer(flush)
        assert [e.json() for e in await tx.load(stream)] == [{"n": 1}]  # read your own writes
        held.append(order_created(2))
        assert await tx.stream_version(stream) == 2
        held.append(order_created(3))  # written by the commit
    assert [e.json() for e in await store.load(stream)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert flushes == [1, 1, 1]


async def test_a_buffer_that_fails_at_the_commit_rolls_the_transaction_back(
    store: EventStore, unique_id: str
) -> None:
    stream = f"order-{unique_id}"
    await store.append(stream, 0, [order_created(1)])

    with pytest.raises(VersionConflictError):
        async with store.transaction() as tx:
            await tx.append(f"other-{unique_id}", 0, [order_created(2)])

            async def stale() -> None:
                await tx.append(stream, 0, [order_created(3)])

            tx.buffer(stale)

    assert await store.load(f"other-{unique_id}") == []
    assert [e.json() for e in await store.load(stream)] == [{"n": 1}]


async def test_append_all_writes_several_streams_in_order_and_returns_each(
    store: EventStore, unique_id: str
) -> None:
    a, b, c = (f"{name}-{unique_id}" for name in "abc")
    await store.append(a, 0, [order_created(0)])
    async with store.transaction() as tx:
        recorded = await tx.append_all(
            [
                StreamAppend(a, 1, [order_created(1), order_created(2)]),
                StreamAppend(b, None, [order_created(3)]),
                StreamAppend(c, 0, [order_created(4), order_created(5)]),
            ]
        )
    assert [[(e.stream_id, e.version, e.json()) for e in part] for part in recorded] == [
        [(a, 2, {"n": 1}), (a, 3, {"n": 2})],
        [(b, 1, {"n": 3})],
        [(c, 1, {"n": 4}), (c, 2, {"n": 5})],
    ]
    positions = [e.position for part in recorded for e in part]
    assert positions == sorted(positions)  # in the order given
    everything = await store.read_all(0, 100)
    assert [e.json()["n"] for e in everything if e.stream_id in (a, b, c)] == [0, 1, 2, 3, 4, 5]


async def test_append_all_with_one_stale_stream_writes_nothing(
    store: EventStore, unique_id: str
) -> None:
    fresh, stale = f"fresh-{unique_id}", f"stale-{unique_id}"
    await store.append(stale, 0, [order_created(0)])
    with pytest.raises(VersionConflictError) as caught:
        async with store.transaction() as tx:
            await tx.append_all(
                [
                    StreamAppend(fresh, 0, [order_created(1)]),
                    StreamAppend(stale, 0, [order_created(2)]),
                ]
            )
    assert caught.value.stream_id == stale
    assert caught.value.expected == 0
    assert await store.load(fresh) == []
    assert [e.json() for e in await store.load(stale)] == [{"n": 0}]


async def test_append_all_takes_a_stream_twice_and_a_check_alone(
    store: EventStore, unique_id: str
) -> None:
    stream, other = f"twice-{unique_id}", f"other-{unique_id}"
    await store.append(other, 0, [order_created(0)])
    async with store.transaction() as tx:
        recorded = await tx.append_all(
            [
                StreamAppend(stream, None, [order_created(1)]),
                StreamAppend(other, 1, []),
                StreamAppend(stream, None, [order_created(2)]),
            ]
        )
    assert [[e.version for e in part] for part in recorded] == [[1], [], [2]]
    with pytest.raises(VersionConflictError):
        async with store.transaction() as tx:
            await tx.append_all([StreamAppend(other, 0, [])])


async def test_every_sink_of_a_transaction_is_appended_in_one_flush(
    store: EventStore, unique_id: str
) -> None:
    """Sinks of one transaction go out in one `append_all` (a flush of one writes them all),
    each with its events in the order sent, the sinks in the order they were opened."""
    calls: list[int] = []
    first, second = f"first-{unique_id}", f"second-{unique_id}"
    async with store.transaction() as tx:
        real = tx.append_all

        async def counting(appends: Any) -> Any:
            calls.append(len(appends))
            return await real(appends)

        tx.append_all = counting  # type: ignore[method-assign]
        one = StreamSink(tx, first, 0)
        two = await StreamSink.at_end(tx, second)
        await one.send(PING, Ping(n=1), aggregate_id="x")
        await two.send(PING, Ping(n=2), aggregate_id="y")
        await one.send(PING, Ping(n=3), aggregate_id="x")
        assert [e.version for e in await two.flush()] == [1]
        assert [e.version for e in one.recorded] == [1, 2]  # flushed with it
        await one.send(PING, Ping(n=4), aggregate_id="x")  # appended by the commit
    assert calls == [2, 1]
    assert [e.json() for e in await store.load(first)] == [{"n": 1}, {"n": 3}, {"n": 4}]
    assert [e.json() for e in await store.load(second)] == [{"n": 2}]


async def test_an_inbox_transaction_records_its_messages_and_names_those_not_seen_before(
    store: EventStore, unique_id: str
) -> None:
    consumer = f"batch-{unique_id}"
    async with store.inbox_transaction(consumer, ["m1"]) as (_, first):
        pass
    async with store.inbox_transaction(consumer, ["m1", "m2", "m3", "m2"]) as (tx, some):
        assert await tx.seen("m3", consumer) is True  # recorded by this transaction
    async with store.inbox_transaction(consumer, ["m1", "m2", "m3"]) as (_, none):
        pass
    async with store.inbox_transaction(f"other-{unique_id}", ["m1"]) as (_, other):
        pass

    assert (first, some, none, other) == ({"m1"}, {"m2", "m3"}, set(), {"m1"})


async def test_an_inbox_transaction_that_fails_leaves_its_messages_unseen(
    store: EventStore, unique_id: str
) -> None:
    stream, consumer = f"order-{unique_id}", f"c-{unique_id}"
    with pytest.raises(RuntimeError, match="handler failed"):
        async with store.inbox_transaction(consumer, ["m1", "m2"]) as (tx, unseen):
            assert unseen == {"m1", "m2"}
            await tx.append(stream, 0, [order_created(1)])
            raise RuntimeError("handler failed")

    assert await store.load(stream) == []
    async with store.inbox_transaction(consumer, ["m2", "m1"]) as (_, again):
        assert again == {"m1", "m2"}


async def test_an_inbox_transaction_handles_a_duplicate_delivered_concurrently_once(
    store: EventStore, unique_id: str
) -> None:
    stream, message_id = f"order-{unique_id}", str(uuid.uuid4())

    async def handle() -> bool:
        async with store.inbox_transaction("order-projector", [message_id]) as (tx, unseen):
            if not unseen:
                return False
            events = await tx.load(stream)
            await tx.append(stream, len(events), [order_created(len(events) + 1)])
            return True

    applied = await asyncio.gather(handle(), handle(), handle())

    assert sorted(applied) == [False, False, True]
    assert [e.version for e in await store.load(stream)] == [1]


HOSTILE_IDS = [
    "it's",
    "'); DROP TABLE inbox; --",
    "back\\slash\\x41",
    "$1 $$ $tag$",
    "ñandú ☕ 𝄞",
    "\t\r\n\x01\x1f",
    "9" * 400,
]


async def test_message_ids_from_headers_are_recorded_verbatim_whatever_they_hold(
    store: EventStore, unique_id: str
) -> None:
    # On an InboxConnection the ids are written into BEGIN's simple query as literals.
    consumer = f"hostile-{unique_id}'; --"
    async with store.inbox_transaction(consumer, HOSTILE_IDS) as (tx, unseen):
        assert unseen == set(HOSTILE_IDS)
        assert await tx.unseen(HOSTILE_IDS, consumer) == set()
    async with store.inbox_transaction(consumer, [*HOSTILE_IDS, "new"]) as (_, again):
        assert again == {"new"}


@pytest.mark.parametrize("backend", ["postgres", "postgres-inbox"], indirect=True)
async def test_a_message_id_postgresql_cannot_hold_fails_the_transaction_and_keeps_nothing(
    store: EventStore, unique_id: str
) -> None:
    consumer = f"nul-{unique_id}"
    with pytest.raises(asyncpg.PostgresError):
        async with store.inbox_transaction(consumer, ["ok", "bad\x00id"]):
            pass
    async with store.inbox_transaction(consumer, ["ok"]) as (_, unseen):
        assert unseen == {"ok"}  # and the connection went back to the pool usable


@pytest.mark.parametrize("backend", ["postgres-inbox"], indirect=True)
async def test_on_an_inbox_connection_the_inbox_rows_go_in_the_round_trip_of_begin(
    store: EventStore, unique_id: str, queries: list[str]
) -> None:
    consumer = f"rt-{unique_id}"
    async with store.inbox_transaction(consumer, ["m1"]):
        pass
    del queries[:]
    async with store.inbox_transaction(consumer, ["m1", "m2"]) as (_, unseen):
        assert unseen == {"m2"}  # one of two new: which one is read back (xmin)
    async with store.inbox_transaction(consumer, ["m3"]) as (_, fresh):
        assert fresh == {"m3"}

    begins = [q for q in queries if q.startswith("BEGIN")]
    assert len(begins) == 2 and all("inbox" in q for q in begins)
    assert not [q for q in queries if q.startswith("INSERT") and "inbox" in q]
    last = queries.index(begins[-1])
    assert queries[last + 1] == "COMMIT;"  # all new: nothing read back
