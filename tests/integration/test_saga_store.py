"""Saga states on real PostgreSQL, the deadline scanner, and the outbox sink of publishers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from generated.order.events import Publisher
from generated.order.models import CommitStock, ReleaseStock
from runtime.errors import ConcurrencyError
from runtime.eventstore.base import (
    DuplicateEventError,
    NewEvent,
    Transaction,
    VersionConflictError,
)
from runtime.eventstore.postgres import (
    PostgresEventStore,
    PostgresTransaction,
    Statement,
    connection_of,
    write_together,
)
from runtime.outbox.sink import StreamSink
from runtime.saga import SagaState, scan_deadlines
from runtime.saga.postgres import PostgresSagaStore

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
async def store(
    database_url: str, unique_id: str
) -> AsyncIterator[tuple[PostgresEventStore, PostgresSagaStore]]:
    schema = f"saga_{unique_id}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=6)
    try:
        events = PostgresEventStore(pool, schema)
        await events.migrate()
        sagas = PostgresSagaStore(schema)
        async with pool.acquire() as connection:
            await sagas.migrate(connection)
        yield events, sagas
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def test_saga_state_round_trips_and_moves_optimistically(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, sagas = store
    async with events.transaction() as tx:
        saved = await sagas.put(
            tx, SagaState("o-1", "reserving_stock", {"total": 2999}, NOW + timedelta(seconds=10))
        )
    assert saved.version == 1
    async with events.transaction() as tx:
        loaded = await sagas.get(tx, "o-1")
        assert loaded == saved
        moved = loaded.move(
            "processing_payment", now=NOW, timeout=timedelta(seconds=30), payment="p-1"
        )
        await sagas.put(tx, moved)
    async with events.transaction() as tx:
        current = await sagas.get(tx, "o-1", lock=False)
    assert current is not None
    assert (current.step, current.data, current.version) == (
        "processing_payment",
        {"total": 2999, "payment": "p-1"},
        2,
    )
    with pytest.raises(ConcurrencyError):
        async with events.transaction() as tx:
            await sagas.put(tx, saved)  # stale version 1
    with pytest.raises(ConcurrencyError):
        async with events.transaction() as tx:
            await sagas.put(tx, SagaState("o-1", "reserving_stock"))  # already exists


async def test_scanner_times_out_each_due_saga_once_even_with_two_scanners(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, sagas = store
    async with events.transaction() as tx:
        for i in range(20):
            await sagas.put(
                tx, SagaState(f"due-{i}", "processing_payment", {}, NOW - timedelta(seconds=1))
            )
        await sagas.put(tx, SagaState("later", "processing_payment", {}, NOW + timedelta(hours=1)))
        await sagas.put(tx, SagaState("done", "done", {}, None))
    handled: list[str] = []

    async def on_timeout(tx: Transaction, state: SagaState) -> None:
        handled.append(state.saga_id)
        await asyncio.sleep(0.01)  # hold the lock so the other scanner must skip
        await sagas.put(tx, state.move("releasing_stock", now=NOW, timeout=None))

    counts = await asyncio.gather(
        scan_deadlines(events.transaction, sagas, on_timeout, now=NOW, limit=50),
        scan_deadlines(events.transaction, sagas, on_timeout, now=NOW, limit=50),
    )
    assert sum(counts) == 20
    assert sorted(handled) == sorted(f"due-{i}" for i in range(20))
    assert await scan_deadlines(events.transaction, sagas, on_timeout, now=NOW) == 0
    async with events.transaction() as tx:
        assert await sagas.count_by_step(tx) == {
            "releasing_stock": 20,
            "processing_payment": 1,
            "done": 1,
        }


async def test_a_saga_counts_as_overdue_from_its_deadline_until_it_moves_on(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, sagas = store
    async with events.transaction() as tx:
        await sagas.put(tx, SagaState("late", "processing_payment", {}, NOW))
        await sagas.put(tx, SagaState("early", "processing_payment", {}, NOW + timedelta(hours=1)))
        await sagas.put(tx, SagaState("settled", "done", {}, None))
    async with events.transaction() as tx:
        assert await sagas.count_overdue(tx, NOW - timedelta(seconds=1)) == 0
        assert await sagas.count_overdue(tx, NOW) == 1
        late = await sagas.get(tx, "late")
        assert late is not None
        await sagas.put(tx, late.move("done", now=NOW, timeout=None))
    async with events.transaction() as tx:
        assert await sagas.count_overdue(tx, NOW) == 0


async def test_a_second_scanner_claims_nothing_while_one_sweeps(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, sagas = store
    async with events.transaction() as tx:
        for i in range(6):
            await sagas.put(tx, SagaState(f"due-{i}", "processing_payment", {}, NOW))
    async with events.transaction() as sweeping:
        first = await sagas.claim_due(sweeping, NOW, 2)
        async with events.transaction() as other:  # a replica's scanner, meanwhile
            assert await sagas.claim_due(other, NOW, 10) == []
    assert len(first) == 2
    async with events.transaction() as tx:
        assert len(await sagas.claim_due(tx, NOW, 10)) == 6  # the lock went with the commit


async def test_publisher_through_stream_sink_appends_with_envelope(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, _ = store
    order_id = uuid.uuid4()
    async with events.transaction() as tx:
        sink = StreamSink(tx, f"order-{order_id}", 0)
        publisher = Publisher(sink)
        first = await publisher.release_stock(
            ReleaseStock(order_id=order_id, reason="payment_failed"), aggregate_id=str(order_id)
        )
        await publisher.commit_stock(CommitStock(order_id=order_id), aggregate_id=str(order_id))
    stored = await events.load(f"order-{order_id}")
    assert [(e.version, e.subject) for e in stored] == [
        (1, "inventory.cmd.release_stock.v1"),
        (2, "inventory.cmd.commit_stock.v1"),
    ]
    assert str(stored[0].event_id) == first == stored[0].headers["ce-id"]
    assert stored[0].headers["ce-source"] == "/services/order"
    assert stored[0].headers["ce-subject"] == str(order_id)
    assert stored[0].json() == {"order_id": str(order_id), "reason": "payment_failed"}
    with pytest.raises(ConcurrencyError):
        async with events.transaction() as tx:
            await Publisher(StreamSink(tx, f"order-{order_id}", 1)).commit_stock(
                CommitStock(order_id=order_id), aggregate_id=str(order_id)
            )


async def test_stream_sink_holds_messages_back_and_appends_them_in_one_statement(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, _ = store
    order_id = uuid.uuid4()
    stream = f"order-{order_id}"
    await events.append(
        stream, 0, [NewEvent("a4co.order.created.v1", "order.created.v1", b"{}", str(order_id))]
    )
    async with events.transaction() as tx:
        assert isinstance(tx, PostgresTransaction)
        statements: list[str] = []
        tx.connection.add_query_logger(lambda q: statements.append(q.query))
        sink = await StreamSink.at_end(tx, stream)
        publisher = Publisher(sink)
        await publisher.release_stock(
            ReleaseStock(order_id=order_id, reason="payment_failed"), aggregate_id=str(order_id)
        )
        await publisher.commit_stock(CommitStock(order_id=order_id), aggregate_id=str(order_id))
        await asyncio.sleep(0.05)  # asyncpg calls query loggers with call_soon
        assert statements == []  # nothing written yet, no version looked up
        with pytest.raises(RuntimeError, match="await flush"):
            _ = sink.recorded
        recorded = await sink.flush()
        assert [e.version for e in recorded] == [2, 3]
        assert sink.version == 3
        await asyncio.sleep(0.05)
        assert len([q for q in statements if "INSERT INTO" in q]) == 1
        await publisher.commit_stock(CommitStock(order_id=order_id), aggregate_id=str(order_id))
        assert sink.version == 4  # counted before the commit writes it
    stored = await events.load(stream)
    assert [(e.version, e.subject) for e in stored] == [
        (1, "order.created.v1"),
        (2, "inventory.cmd.release_stock.v1"),
        (3, "inventory.cmd.commit_stock.v1"),
        (4, "inventory.cmd.commit_stock.v1"),
    ]


async def test_stream_sink_at_a_stale_version_fails_its_transaction_at_the_commit(
    store: tuple[PostgresEventStore, PostgresSagaStore],
) -> None:
    events, _ = store
    order_id = uuid.uuid4()
    stream = f"order-{order_id}"
    await events.append(
        stream, 0, [NewEvent("a4co.order.created.v1", "order.created.v1", b"{}", str(order_id))]
    )
    with pytest.raises(ConcurrencyError):
        async with events.transaction() as tx:
            await Publisher(StreamSink(tx, stream, 0)).commit_stock(
                CommitStock(order_id=order_id), aggregate_id=str(order_id)
            )
    assert [e.version for e in await events.load(stream)] == [1]


async def test_a_put_writes_along_other_tables_in_one_statement_or_not_at_all(
    store: tuple[PostgresEventStore, PostgresSagaStore], unique_id: str
) -> None:
    events, sagas = store
    table = f'"saga_{unique_id}".notes'
    async with events.transaction() as tx:
        await connection_of(tx).execute(
            f"CREATE TABLE {table} (id text PRIMARY KEY, n int NOT NULL, note text)"
        )
    statements: list[str] = []
    note = Statement(f"INSERT INTO {table} VALUES ($1, $2, $3)", ("a", 1, "é'; --\x01"))
    bump = Statement(f"UPDATE {table} SET n = n + $2 WHERE id = $1 RETURNING n", ("z", 5))
    async with events.transaction() as tx:
        connection_of(tx).add_query_logger(lambda q: statements.append(q.query))
        saved = await sagas.put(tx, SagaState("o-9", "reserving_stock", {}), along=[note, bump])
        assert saved.version == 1
        # The parts run on one snapshot, each numbering its parameters from $1.
        assert await write_together(
            tx,
            [
                Statement(f"INSERT INTO {table} VALUES ($1, $2, NULL)", ("b", 2)),
                Statement(f"UPDATE {table} SET n = n + $2 WHERE id = $1 RETURNING n", ("a", 10)),
                Statement(f"DELETE FROM {table} WHERE id = $1", ("nobody",)),
            ],
        ) == [None, 11, None]
    # The put with its note and bump, then the three writes: two statements in all.
    assert [q.split(None, 1)[0] for q in statements[:3]] == ["WITH", "WITH", "COMMIT;"]
    async with events.transaction() as tx:
        rows = await connection_of(tx).fetch(f"SELECT id, n, note FROM {table} ORDER BY id")
    assert [tuple(r) for r in rows] == [("a", 11, "é'; --\x01"), ("b", 2, None)]
    # A stale put raises and its statement wrote nothing along: the transaction rolls back.
    with pytest.raises(ConcurrencyError):
        async with events.transaction() as tx:
            await sagas.put(
                tx,
                SagaState("o-9", "reserving_stock", {}),
                along=[Statement(f"INSERT INTO {table} VALUES ($1, $2, NULL)", ("c", 3))],
            )
    async with events.transaction() as tx:
        assert await connection_of(tx).fetchval(f"SELECT count(*) FROM {table}") == 2


@pytest.fixture
async def notes(store: tuple[PostgresEventStore, PostgresSagaStore], unique_id: str) -> str:
    """A table of the test's schema, `(id text PRIMARY KEY, n int)`: its qualified name."""
    table = f'"saga_{unique_id}".notes'
    async with store[0].transaction() as tx:
        await connection_of(tx).execute(f"CREATE TABLE {table} (id text PRIMARY KEY, n int)")
    return table


async def test_write_together_appends_what_the_sinks_hold_in_its_own_statement(
    store: tuple[PostgresEventStore, PostgresSagaStore], notes: str, unique_id: str
) -> None:
    events, table = store[0], notes
    first, second = f"order-{uuid.uuid4()}", f"order-{uuid.uuid4()}"
    statements: list[str] = []
    async with events.transaction() as tx:
        connection_of(tx).add_query_logger(lambda q: statements.append(q.query))
        at_zero, at_end = StreamSink(tx, first, 0), StreamSink(tx, second, None)
        for sink in (at_zero, at_end, at_zero):
            order_id = uuid.uuid4()
            await Publisher(sink).release_stock(
                ReleaseStock(order_id=order_id, reason="payment_failed"),
                aggregate_id=f"{order_id}'; --\x01",
            )
        assert [u.version for u in at_zero.ahead()] == [1, 2]  # known before the append
        results = await write_together(
            tx,
            [
                Statement(f"INSERT INTO {table} VALUES ($1, $2) RETURNING n", ("a", 7)),
                Statement(f"INSERT INTO {table} VALUES ($1, $2)", ("b", 8)),
            ],
        )
        assert results == [7, None]
        assert [e.version for e in await at_zero.flush()] == [1, 2]  # nothing left to send
        assert [e.version for e in at_end.recorded] == [1]
        assert [e.stream_id for e in tx.recorded] == [first, first, second]  # sink by sink
    ours = [q for q in statements if unique_id in q or q.startswith("COMMIT")]  # not asyncpg's
    assert [q.split(None, 1)[0] for q in ours] == ["WITH", "COMMIT;"]
    assert [e.version for e in await events.load(first)] == [1, 2]
    assert (await events.load(second))[0].aggregate_id.endswith("'; --\x01")
    async with events.transaction() as tx:
        assert await connection_of(tx).fetchval(f"SELECT sum(n) FROM {table}") == 15


async def test_a_stale_append_in_write_together_writes_nothing(
    store: tuple[PostgresEventStore, PostgresSagaStore], notes: str
) -> None:
    events, table = store[0], notes
    stream = f"order-{uuid.uuid4()}"
    order_id = uuid.uuid4()
    with pytest.raises(VersionConflictError):
        async with events.transaction() as tx:
            await Publisher(StreamSink(tx, stream, 3)).commit_stock(  # the stream is empty
                CommitStock(order_id=order_id), aggregate_id=str(order_id)
            )
            await write_together(tx, [Statement(f"INSERT INTO {table} VALUES ($1, $2)", ("a", 1))])
    assert await events.load(stream) == []
    async with events.transaction() as tx:
        assert await connection_of(tx).fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_a_broken_write_along_an_append_is_not_taken_for_a_duplicate_event(
    store: tuple[PostgresEventStore, PostgresSagaStore], notes: str
) -> None:
    events, table = store[0], notes
    stream, order_id = f"order-{uuid.uuid4()}", uuid.uuid4()
    async with events.transaction() as tx:
        await connection_of(tx).execute(f"INSERT INTO {table} VALUES ('a', 1)")
    with pytest.raises(asyncpg.UniqueViolationError):  # the notes' key, not an event id
        async with events.transaction() as tx:
            await Publisher(StreamSink(tx, stream, 0)).commit_stock(
                CommitStock(order_id=order_id), aggregate_id=str(order_id)
            )
            await write_together(tx, [Statement(f"INSERT INTO {table} VALUES ($1, $2)", ("a", 2))])
    # An event id sent twice is still told apart.
    message_id = str(uuid.uuid4())
    async with events.transaction() as tx:
        await Publisher(StreamSink(tx, stream, None)).commit_stock(
            CommitStock(order_id=order_id), aggregate_id=str(order_id), message_id=message_id
        )
    with pytest.raises(DuplicateEventError):
        async with events.transaction() as tx:
            await Publisher(StreamSink(tx, f"order-{uuid.uuid4()}", 0)).commit_stock(
                CommitStock(order_id=order_id), aggregate_id=str(order_id), message_id=message_id
            )
            await write_together(tx, [Statement(f"INSERT INTO {table} VALUES ($1, $2)", ("b", 2))])
    assert len(await events.load(stream)) == 1


async def test_a_stream_held_twice_is_appended_in_turn_before_the_writes(
    store: tuple[PostgresEventStore, PostgresSagaStore], notes: str
) -> None:
    events, table = store[0], notes
    stream, order_id = f"order-{uuid.uuid4()}", uuid.uuid4()
    async with events.transaction() as tx:
        for version in (0, 1):
            await Publisher(StreamSink(tx, stream, version)).commit_stock(
                CommitStock(order_id=order_id), aggregate_id=str(order_id)
            )
        written = await write_together(
            tx, [Statement(f"INSERT INTO {table} VALUES ($1, $2) RETURNING id", ("a", 1))]
        )
    assert written == ["a"]
    assert [e.version for e in await events.load(stream)] == [1, 2]


async def test_a_saga_read_with_its_lock_carries_its_streams_version(
    store: tuple[PostgresEventStore, PostgresSagaStore], unique_id: str
) -> None:
    events, plain = store
    sagas = PostgresSagaStore(f"saga_{unique_id}", stream_prefix="order-")
    appended = {"o-1": 3, "o'2": 0}  # a quote in the id: the prefix is a literal
    async with events.transaction() as tx:
        for saga_id, count in appended.items():
            await sagas.put(tx, SagaState(saga_id, "processing_payment", {}, NOW))
            for _ in range(count):
                await Publisher(StreamSink(tx, f"order-{saga_id}", None)).commit_stock(
                    CommitStock(order_id=uuid.uuid4()), aggregate_id=saga_id
                )
    async with events.transaction() as tx:
        assert [(await sagas.get(tx, s)).stream_version for s in appended] == [3, 0]  # type: ignore[union-attr]
        assert (await plain.get(tx, "o-1")).stream_version is None  # type: ignore[union-attr]
        due = await sagas.claim_due(tx, NOW, 10)
        assert {s.saga_id: s.stream_version for s in due} == appended
    with pytest.raises(ValueError, match="NUL"):
        PostgresSagaStore("x", stream_prefix="order-\x00")
    with pytest.raises(ValueError, match="no quote"):
        PostgresSagaStore("x", stream_prefix="order-'; DROP TABLE sagas; --")
