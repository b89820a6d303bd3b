"""Rows held back by a transaction, on real PostgreSQL: written once at the commit, in one
statement, or not at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from runtime.eventstore.base import NewEvent
from runtime.eventstore.held import HeldInsert
from runtime.eventstore.postgres import PostgresEventStore, connection_of

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str, unique_id: str) -> AsyncIterator[PostgresEventStore]:
    schema = f"held_{unique_id}"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        events = PostgresEventStore(pool, schema)
        await events.migrate()
        await pool.execute(
            f'CREATE TABLE "{schema}".notes (id uuid PRIMARY KEY, body text, at timestamptz)'
        )
        yield events
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


def notes_of(store: PostgresEventStore) -> HeldInsert:
    """The held insert of the test's table."""
    return HeldInsert(f'"{store.schema}".notes', ("uuid", "text", "timestamptz"))


async def rows(store: PostgresEventStore) -> dict[uuid.UUID, tuple[str | None, datetime]]:
    """What the table holds, committed."""
    async with store.transaction() as tx:
        found = await connection_of(tx).fetch(f'SELECT * FROM "{store.schema}".notes')
    return {r["id"]: (r["body"], r["at"]) for r in found}


async def test_held_rows_are_written_once_when_the_transaction_commits(
    store: PostgresEventStore,
) -> None:
    notes = notes_of(store)
    ids = [uuid.uuid4() for _ in range(3)]
    statements: list[str] = []
    async with store.transaction() as tx:
        connection_of(tx).add_query_logger(lambda q: statements.append(q.query))
        for n, note in enumerate(ids):
            notes.add(tx, note, f"note {n}" if n else None, AT)
        unseen_inside = await connection_of(tx).fetchval(
            f'SELECT count(*) FROM "{store.schema}".notes'
        )

    assert await rows(store) == {ids[0]: (None, AT), ids[1]: ("note 1", AT), ids[2]: ("note 2", AT)}
    assert unseen_inside == 0, "held back until the flush"
    assert sum("unnest" in q for q in statements) == 1


async def test_held_rows_of_a_transaction_that_fails_are_never_written(
    store: PostgresEventStore,
) -> None:
    notes = notes_of(store)
    with pytest.raises(RuntimeError, match="handler failed"):
        async with store.transaction() as tx:
            notes.add(tx, uuid.uuid4(), "lost", AT)
            raise RuntimeError("handler failed")
    kept = uuid.uuid4()
    async with store.transaction() as tx:
        notes.add(tx, kept, "kept", AT)

    assert await rows(store) == {kept: ("kept", AT)}


async def test_a_held_row_that_breaks_a_key_fails_the_commit_and_writes_nothing(
    store: PostgresEventStore,
) -> None:
    notes = notes_of(store)
    twice = uuid.uuid4()
    with pytest.raises(asyncpg.UniqueViolationError):
        async with store.transaction() as tx:
            notes.add(tx, uuid.uuid4(), "first", AT)
            notes.add(tx, twice, "a", AT)
            notes.add(tx, twice, "b", AT)
            await tx.append("s-1", None, [NewEvent("t", "s.t", b"{}", "1")])

    assert await rows(store) == {}
    async with store.transaction() as tx:
        assert await tx.load("s-1") == [], "the transaction's events went with it"


async def test_rows_held_after_a_read_flushed_the_first_are_written_too(
    store: PostgresEventStore,
) -> None:
    notes = notes_of(store)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with store.transaction() as tx:
        notes.add(tx, first, "before the read", AT)
        await tx.load("any-stream")  # a read of events flushes what is held
        notes.add(tx, second, "after the read", AT)

    assert await rows(store) == {first: ("before the read", AT), second: ("after the read", AT)}


def test_a_held_insert_takes_plain_type_names_and_whole_rows() -> None:
    with pytest.raises(ValueError, match="plain type names"):
        HeldInsert("notes", ("uuid", "text); DROP TABLE notes; --"))
    notes = HeldInsert("notes", ("uuid", "text"))
    with pytest.raises(ValueError, match="a row of 1 values for 2 columns"):
        notes.add(object(), uuid.uuid4())  # type: ignore[arg-type]


async def test_a_held_insert_skipping_existing_rows_keeps_the_first_of_each_key(
    store: PostgresEventStore,
) -> None:
    notes = HeldInsert(
        f'"{store.schema}".notes', ("uuid", "text", "timestamptz"), skip_existing=True
    )
    stored, twice, fresh = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with store.transaction() as tx:
        notes.add(tx, stored, "stored first", AT)
    async with store.transaction() as tx:
        notes.add(tx, stored, "a copy", AT)
        notes.add(tx, twice, "held first", AT)
        notes.add(tx, twice, "held again", AT)
        notes.add(tx, fresh, "new", AT)

    assert await rows(store) == {
        stored: ("stored first", AT),
        twice: ("held first", AT),
        fresh: ("new", AT),
    }
