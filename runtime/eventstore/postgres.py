"""The PostgreSQL event store: one schema per service holding events, snapshots, inbox, checkpoints.

The `events` table doubles as the transactional outbox (`published_at IS NULL` rows are
pending; see `runtime.outbox`). asyncpg errors are translated here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg

from runtime.errors import ConfigurationError
from runtime.eventstore.base import (
    Buffers,
    CommittedEvents,
    DuplicateEventError,
    EventStore,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StoreUnavailableError,
    StreamAppend,
    Transaction,
    VersionConflictError,
)

if TYPE_CHECKING:
    from runtime.upcasting import Upcasters

__all__ = [
    "EVENT_COLUMNS",
    "InboxConnection",
    "PostgresEventStore",
    "PostgresTransaction",
    "Statement",
    "checked_schema",
    "connection_of",
    "migrate",
    "record",
    "write_together",
]

_SCHEMA_NAME = re.compile(r"(?!pg_)[a-z_][a-z0-9_]{0,49}")
_CONNECTION_LOST = (
    OSError,  # refused, reset, or the unix socket gone while the server is down
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.TooManyConnectionsError,  # 53300: no connection slot left (server or role)
    asyncpg.AdminShutdownError,  # 57P01: a fast shutdown cut the session
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.exceptions.InternalClientError,  # asyncpg's protocol state after a cut
)
_VERSION_KEY = "events_stream_version_key"
_EVENT_ID_KEY = "events_event_id_key"

_DDL = """
CREATE TABLE IF NOT EXISTS "{s}".events (
    position bigserial PRIMARY KEY,
    stream_id text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    event_id uuid NOT NULL CONSTRAINT events_event_id_key UNIQUE,
    type text NOT NULL,
    subject text NOT NULL,
    aggregate_id text NOT NULL,
    payload jsonb NOT NULL,
    headers jsonb NOT NULL DEFAULT '{{}}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_pending_idx
    ON "{s}".events (position) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS "{s}".snapshots (
    stream_id text PRIMARY KEY,
    version integer NOT NULL,
    state bytea NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS "{s}".inbox (
    consumer text NOT NULL,
    message_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE TABLE IF NOT EXISTS "{s}".checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

EVENT_COLUMNS = (  # what `record` reads
    "position, stream_id, version, event_id, type, subject, aggregate_id,"
    " payload::text AS payload, headers::text AS headers, recorded_at"
)


def checked_schema(schema: str) -> str:
    """`schema` if it is a safe service schema name, else a ConfigurationError naming it."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"event store schema {schema!r} should be 1-50 lower-case letters, digits and"
            " underscores, not starting with a digit or pg_"
        )
    return schema


async def migrate(conn: Any, schema: str) -> None:
    """Create `schema` and its tables if missing; concurrent callers wait for each other.

    A schema that exists is not created again: a service's own role (see
    `a4co.launcher.db_roles`) owns its schema but may not create schemas.
    """
    ddl = _DDL.format(s=checked_schema(schema))
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"a4co.migrate.{schema}")
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(ddl)


def record(row: Any) -> RecordedEvent:
    """A RecordedEvent from a row selected with the events columns."""
    return RecordedEvent(
        position=row["position"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        type=row["type"],
        subject=row["subject"],
        payload=row["payload"].encode(),
        aggregate_id=row["aggregate_id"],
        headers=json.loads(row["headers"]),
        recorded_at=row["recorded_at"],
    )


class PostgresTransaction(Buffers):
    """A transaction on one pooled connection; `connection` runs the handler's own SQL."""

    def __init__(self, connection: Any, schema: str, upcasters: Upcasters | None = None) -> None:
        super().__init__()
        self.connection = connection
        self._s = f'"{schema}"'
        self._newest = upcasters.newest if upcasters else None
        self.recorded: list[RecordedEvent] = []
        """What this transaction appended, in order (handed to the relay once committed)."""

    async def append(
        self, stream_id: str, expected_version: int | None, events: list[NewEvent]
    ) -> list[RecordedEvent]:
        """Append after `expected_version` (None: at the end); a conflict aborts the
        transaction and raises (see `append_all`)."""
        if not events:
            current = await self._version_of(stream_id)
            if expected_version is not None and current != expected_version:
                raise VersionConflictError(stream_id, expected_version, current)
            return []
        (recorded,) = await self.append_all([StreamAppend(stream_id, expected_version, events)])
        return recorded

    async def append_all(self, appends: Sequence[StreamAppend]) -> list[list[RecordedEvent]]:
        """Append to several streams in one statement.

        It inserts a stream's events only when the stream is at its expected version (or
        at whatever version it is, for None); an interleaved append trips the (stream,
        version) key. A conflict on any stream raises, and the transaction must roll back
        (the other streams' rows are written).
        """
        if not _in_one(appends):  # a version check alone, or a stream twice: one by one
            return [await self.append(*part) for part in appends]
        recorded, _ = await self.append_along(appends, ())
        return recorded

    async def append_along(
        self, appends: Sequence[StreamAppend], statements: Sequence[Statement]
    ) -> tuple[list[list[RecordedEvent]], list[Any]]:
        """`append_all` and `write_together` in one statement: what each append recorded,
        and each statement's result. The statements do not see the appended rows."""
        if not _in_one(appends):
            recorded = await self.append_all(appends)
            return recorded, await write_together(self, statements) if statements else []
        events = [(part, k, e) for part in appends for k, e in enumerate(part.events, start=1)]
        ctes, results, args = _parts(statements, offset=9)
        results_sql = ", ".join(results) or "NULL"
        try:
            rows = await self.connection.fetch(
                f"WITH u AS (SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::uuid[],"
                " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
                " WITH ORDINALITY AS u(s, x, k, e, t, sj, a, p, h, n)),"
                " cur AS (SELECT d.s, (SELECT coalesce(max(version), 0)"
                f" FROM {self._s}.events WHERE stream_id = d.s) AS v"
                " FROM (SELECT DISTINCT s FROM u) AS d),"
                f" ins AS (INSERT INTO {self._s}.events"
                " (stream_id, version, event_id, type, subject, aggregate_id, payload, headers)"
                " SELECT u.s, cur.v + u.k, u.e, u.t, u.sj, u.a, u.p::jsonb, u.h::jsonb"
                " FROM u JOIN cur ON cur.s = u.s WHERE u.x IS NULL OR cur.v = u.x ORDER BY u.n"
                " RETURNING stream_id, position, version, recorded_at)"
                + "".join(f", {cte}" for cte in ctes)
                + f" SELECT i.*, {results_sql} FROM (SELECT 1) AS one"
                " LEFT JOIN ins AS i ON true ORDER BY i.position",
                [part.stream_id for part, _, _ in events],
                [part.expected_version for part, _, _ in events],
                [k for _, k, _ in events],
                [e.event_id for _, _, e in events],
                [e.type for _, _, e in events],
                [e.subject for _, _, e in events],
                [e.aggregate_id for _, _, e in events],
                [e.payload.decode() for _, _, e in events],
                [json.dumps(dict(e.headers)) for _, _, e in events],
                *args,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == _VERSION_KEY:
                part = _conflicting(appends, exc)
                raise VersionConflictError(
                    part.stream_id, part.expected_version or 0, None
                ) from exc
            if exc.constraint_name == _EVENT_ID_KEY:
                raise DuplicateEventError(_duplicate_id([e for _, _, e in events], exc)) from exc
            raise
        by_stream: dict[str, list[Any]] = {}
        for row in rows:
            if row["stream_id"] is not None:
                by_stream.setdefault(row["stream_id"], []).append(row)
        out: dict[str, list[RecordedEvent]] = {}
        for part in appends:
            written = sorted(by_stream.get(part.stream_id, ()), key=lambda r: r["version"])
            if len(written) != len(part.events):
                assert part.expected_version is not None  # an append at the end always inserts
                raise VersionConflictError(
                    part.stream_id, part.expected_version, await self._version_of(part.stream_id)
                )
            out[part.stream_id] = [
                event.recorded(part.stream_id, row["version"], row["position"], row["recorded_at"])
                for event, row in zip(part.events, written, strict=True)
            ]
        self.recorded += sorted(
            (e for recorded in out.values() for e in recorded), key=lambda e: e.position
        )
        return [out[part.stream_id] for part in appends], list(rows[0])[4:]

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        await self.flush()
        return await self._version_of(stream_id)

    async def _version_of(self, stream_id: str) -> int:
        version: int = await self.connection.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {self._s}.events WHERE stream_id = $1",
            stream_id,
        )
        return version

    async def load(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, oldest first."""
        await self.flush()
        rows = await self.connection.fetch(
            f"SELECT {EVENT_COLUMNS} FROM {self._s}.events"
            " WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id,
            after_version,
        )
        return self._read(rows)

    async def read_all(self, after_position: int = 0, limit: int = 100) -> list[RecordedEvent]:
        """Up to `limit` events after `after_position`, in position order."""
        await self.flush()
        rows = await self.connection.fetch(
            f"SELECT {EVENT_COLUMNS} FROM {self._s}.events"
            " WHERE position > $1 ORDER BY position LIMIT $2",
            after_position,
            limit,
        )
        return self._read(rows)

    def _read(self, rows: list[Any]) -> list[RecordedEvent]:
        """Stored events as their newest version: an older one is upcast, never rewritten."""
        events = [record(row) for row in rows]
        return events if self._newest is None else [self._newest(e) for e in events]

    async def seen(self, message_id: str, consumer: str) -> bool:
        """Insert the inbox row; True if it was there (waits for a peer's commit)."""
        inserted = await self.connection.fetchval(
            f"INSERT INTO {self._s}.inbox (consumer, message_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            message_id,
        )
        return inserted is None

    async def unseen(self, message_ids: Sequence[str], consumer: str) -> set[str]:
        """Insert the inbox rows in one statement; the ids that were not there yet."""
        rows = await self.connection.fetch(
            f"INSERT INTO {self._s}.inbox (consumer, message_id)"
            " SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id",
            consumer,
            list(dict.fromkeys(message_ids)),
        )
        return {row[0] for row in rows}

    async def inserted(self, consumer: str, message_ids: list[str], status: str) -> set[str]:
        """The ids this transaction's inbox insert wrote, from its status (`INSERT 0 n`):
        all or none as counted, else those whose row this transaction created."""
        count = int(status.rsplit(" ", 1)[-1]) if status.startswith("INSERT") else -1
        if count == len(message_ids):
            return set(message_ids)
        if count == 0:
            return set()
        rows = await self.connection.fetch(
            f"SELECT message_id FROM {self._s}.inbox WHERE consumer = $1"
            " AND message_id = ANY($2::text[]) AND xmin = pg_current_xact_id()::xid",
            consumer,
            message_ids,
        )
        return {row[0] for row in rows}

    async def checkpoint(self, name: str) -> int:
        """The projection's last processed position (0 if it never ran)."""
        position = await self.connection.fetchval(
            f"SELECT position FROM {self._s}.checkpoints WHERE name = $1", name
        )
        return 0 if position is None else int(position)

    async def set_checkpoint(self, name: str, position: int) -> None:
        """Store the projection's position in this transaction."""
        await self.connection.execute(
            f"INSERT INTO {self._s}.checkpoints (name, position) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
            name,
            position,
        )

    async def save_snapshot(self, stream_id: str, version: int, state: bytes) -> None:
        """Keep `state` as the stream's snapshot unless a newer one is stored."""
        await self.connection.execute(
            f"INSERT INTO {self._s}.snapshots AS s (stream_id, version, state)"
            " VALUES ($1, $2, $3) ON CONFLICT (stream_id) DO UPDATE"
            " SET version = excluded.version, state = excluded.state, recorded_at = now()"
            " WHERE s.version <= excluded.version",
            stream_id,
            version,
            state,
        )

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, if any."""
        row = await self.connection.fetchrow(
            f"SELECT version, state FROM {self._s}.snapshots WHERE stream_id = $1", stream_id
        )
        return None if row is None else Snapshot(stream_id, row["version"], bytes(row["state"]))


class Statement(NamedTuple):
    """One INSERT, UPDATE or DELETE with its arguments (`$1`... numbered from 1), for
    `write_together`; a RETURNING clause (of one column), if any, gives its result."""

    sql: str
    args: tuple[Any, ...] = ()


_PARAMETER = re.compile(r"\$(\d+)")
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


async def write_together(tx: Transaction, statements: Sequence[Statement]) -> list[Any]:
    """Run the statements in one round trip: each a part of one `WITH`, their parameters
    renumbered in turn. The result of each is the first column of the first row it
    returned, or None (also when it has no RETURNING).

    PostgreSQL runs such parts on one snapshot and in no set order: none sees the others'
    writes, and no two may write the same row (only one would take effect). They are for
    writes to different tables or rows that the caller has finished deciding.

    What the transaction's sinks hold back (`held_appends`) is appended in the same
    statement (`PostgresTransaction.append_along`): a handler that sends its messages and
    then writes its state makes one round trip for both. That pays in a transaction of
    one message, or once per unit of many: a handler of a batched consumer that calls it
    for each message would append message by message what the commit appends for the
    whole unit in one statement (shipping's consumer stays with its own `execute`).
    """
    connection = connection_of(tx)
    if tx.held_appends is not None:
        appends, hand_back = tx.held_appends.take()
        if appends:
            assert isinstance(tx, PostgresTransaction)
            recorded, results = await tx.append_along(appends, statements)
            hand_back(recorded)
            return results
    if len(statements) == 1:
        (only,) = statements
        return [await connection.fetchval(only.sql, *only.args)]
    parts, results, args = _parts(statements)
    row = await connection.fetchrow(f"WITH {', '.join(parts)} SELECT {', '.join(results)}", *args)
    return list(row)


def _parts(
    statements: Sequence[Statement], offset: int = 0
) -> tuple[list[str], list[str], list[Any]]:
    """Each statement as a `WITH` part `wN`, its parameters numbered after `offset` and
    the ones before it; the expression of each one's result; all their arguments."""
    parts: list[str] = []
    results: list[str] = []
    args: list[Any] = []
    for n, statement in enumerate(statements):
        sql = _PARAMETER.sub(partial(_shifted, offset + len(args)), statement.sql)
        parts.append(f"w{n} AS ({sql})")
        results.append(
            f"(SELECT * FROM w{n} LIMIT 1)" if _RETURNING.search(statement.sql) else "NULL"
        )
        args += statement.args
    return parts, results, args


def _shifted(offset: int, parameter: re.Match[str]) -> str:
    return f"${int(parameter[1]) + offset}"


def _in_one(appends: Sequence[StreamAppend]) -> bool:
    """Whether one statement can append them: each names a stream once, with events."""
    return all(p.events for p in appends) and len({p.stream_id for p in appends}) == len(appends)


def connection_of(tx: Transaction) -> Any:
    """The asyncpg connection of a PostgreSQL transaction, for a service's own SQL."""
    if not isinstance(tx, PostgresTransaction):
        raise TypeError(f"{type(tx).__name__} is not a PostgreSQL transaction")
    return tx.connection


class PostgresEventStore(EventStore):
    """An event store in the service's schema, over an asyncpg pool the caller owns.

    `appends` is set after every commit that appended events, and `committed` is handed
    what the commit appended: the service's outbox relay waits on the one and publishes
    the other (`PostgresOutbox(..., appends=store.appends, committed=store.committed)`)
    without reading the events back. An in-process signal, not NOTIFY: PostgreSQL signals
    every listening backend of the database for each NOTIFY, so with 18 relays listening
    each append cost 18 wake-ups (~3.5 CPU-ms an order). Appends by another process (a
    replica) reach the relay by its poll, or by that process's own relay.

    A handler must not roll back an append with a savepoint of its own while its
    transaction commits: the relay would publish an event the table does not hold.
    """

    def __init__(self, pool: Any, schema: str, upcasters: Upcasters | None = None) -> None:
        self._pool = pool
        self.schema = checked_schema(schema)
        self.appends = asyncio.Event()
        self.committed = CommittedEvents()
        self._upcasters = upcasters

    async def migrate(self) -> None:
        """Create the schema and its tables if missing."""
        async with self._pool.acquire() as conn:
            await migrate(conn, self.schema)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        """A transaction committed when the block ends, rolled back if it raises.

        A lost connection, whether met by the block or by the commit, is a
        `StoreUnavailableError`.
        """
        async with self._open(None) as (tx, _):
            yield tx

    @asynccontextmanager
    async def inbox_transaction(
        self, consumer: str, message_ids: Sequence[str]
    ) -> AsyncIterator[tuple[PostgresTransaction, set[str]]]:
        """A transaction that begins by recording the messages in `consumer`'s inbox: it
        and the ids not recorded before.

        On a pool of `InboxConnection`s (the host's) the inbox rows are written in the
        round trip of `BEGIN` itself, one fewer per handled message or batch.
        """
        async with self._open((consumer, list(dict.fromkeys(message_ids)))) as opened:
            yield opened

    @asynccontextmanager
    async def _open(
        self, inbox: tuple[str, list[str]] | None
    ) -> AsyncIterator[tuple[PostgresTransaction, set[str]]]:
        try:
            async with self._pool.acquire() as conn:
                begin_with = getattr(conn, "begin_with", None) if inbox else None
                if inbox and begin_with is not None:
                    begin_with(_inbox_insert(self.schema, *inbox))
                try:
                    async with conn.transaction():
                        tx = PostgresTransaction(conn, self.schema, self._upcasters)
                        fresh: set[str] = set()
                        if inbox and begin_with is not None:
                            fresh = await tx.inserted(*inbox, conn.begun)
                        elif inbox:
                            fresh = await tx.unseen(inbox[1], inbox[0])
                        yield tx, fresh
                        await tx.flush()
                finally:
                    if begin_with is not None:
                        begin_with(None)
                    if not conn.is_closed() and conn.is_in_transaction():
                        with contextlib.suppress(*_CONNECTION_LOST, asyncpg.PostgresError):
                            await conn.execute("ROLLBACK")  # BEGIN passed, its inbox rows not
        except (*_CONNECTION_LOST, asyncpg.InterfaceError) as exc:
            if not _connection_lost(exc):
                raise
            raise StoreUnavailableError(f"PostgreSQL unavailable: {exc}") from exc
        if tx.recorded:
            self.committed.add(tx.recorded)
            self.appends.set()


class InboxConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that sends one more statement in the round trip of the next
    `BEGIN` (`begin_with`), and keeps the status that round trip returned (`begun`).

    asyncpg starts a transaction with a simple query (`BEGIN;`), which may hold several
    statements; the store uses it to write a handler's inbox rows without a round trip of
    their own. Everything else is asyncpg's own `Connection`: its transaction objects,
    savepoints and pool work as ever. Give it to `asyncpg.create_pool(connection_class=)`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._with_begin: str | None = None
        self.begun = ""

    def begin_with(self, statement: str | None) -> None:
        """Send `statement` with the next `BEGIN` (None: send nothing more)."""
        self._with_begin = statement

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """asyncpg's `execute`; a `BEGIN` carries the statement given to `begin_with`."""
        statement = self._with_begin
        if statement is None or args or not query.startswith("BEGIN"):
            return str(await super().execute(query, *args, timeout=timeout))
        self._with_begin = None
        self.begun = str(await super().execute(f"{query} {statement}", timeout=timeout))
        return self.begun


def _inbox_insert(schema: str, consumer: str, message_ids: list[str]) -> str:
    """The inbox insert of `message_ids`, its values spelled as hex literals.

    A simple query takes no parameters; the ids come from message headers, so each value
    is written as the hex of its UTF-8 bytes (nothing but `0-9a-f` between the quotes) and
    decoded by the server: no input can end the literal.
    """
    ids = ",".join(f"'{m.encode().hex()}'" for m in message_ids)
    return (
        f'INSERT INTO "{schema}".inbox (consumer, message_id)'
        f" SELECT convert_from(decode('{consumer.encode().hex()}', 'hex'), 'UTF8'),"
        f" convert_from(decode(h, 'hex'), 'UTF8') FROM unnest(ARRAY[{ids}]::text[]) AS h"
        " ON CONFLICT DO NOTHING"
    )


def _connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach, not what a handler did."""
    if isinstance(exc, TimeoutError):  # an OSError too, but a handler's own wait may raise it
        return False
    if isinstance(exc, asyncpg.InterfaceError):  # else a misuse of the driver
        return "closed" in str(exc)
    return isinstance(exc, _CONNECTION_LOST)


def _conflicting(parts: Sequence[StreamAppend], exc: Exception) -> StreamAppend:
    """The stream whose (stream, version) key the violation names, or the first one."""
    detail = str(getattr(exc, "detail", "") or "")
    return next((p for p in parts if f"({p.stream_id}," in detail), parts[0])


def _duplicate_id(events: list[NewEvent], exc: Exception) -> uuid.UUID:
    """The event id the unique violation names, or the first one appended."""
    detail = str(getattr(exc, "detail", "") or "")
    return next((e.event_id for e in events if str(e.event_id) in detail), events[0].event_id)
