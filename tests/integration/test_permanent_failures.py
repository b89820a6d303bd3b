"""Failures no retry can mend go to the DLQ on their first delivery, on real NATS and PostgreSQL.

A payload its model refuses, and a handler failing on data (PostgreSQL's data exceptions,
a value the driver cannot encode, a model refusing a value), are dead-lettered at once with
the reason and the failing field; a transient failure (a deadlock) is still retried.
"""

from __future__ import annotations

import asyncpg

from runtime.bus import MessageContext
from runtime.bus.envelope import build_headers
from runtime.bus.nats import DeadLetter, list_dead_letters
from runtime.eventstore.postgres import connection_of
from tests.integration import test_batch_handling as batch
from tests.integration.batch_consumer import POLICY, Tick, Ticks
from tests.integration.test_batch_handling import Setup, consume, ticks

setup = batch.setup  # the batch tests' fixture: a stream, a schema and a context of the test's own

BEYOND_INT64 = 2**63
BEYOND_INT32 = 2**40


async def letters(setup: Setup) -> list[DeadLetter]:
    """The test consumer's dead letters, newest first."""
    return await list_dead_letters(setup.nc.jetstream(), service=setup.names.service)


class Casting(Ticks):
    """Handlers that let PostgreSQL itself convert `n` to the `integer` column."""

    async def on_tick(self, message: Tick, context: MessageContext) -> None:
        """Record the tick, PostgreSQL casting `n` from text (so it raises 22003 itself)."""
        async with self.ctx.handling(context, "on_tick") as tx:
            if tx is not None:
                await connection_of(tx).execute(
                    f'INSERT INTO "{self.schema}".applied (n, key, xid)'
                    " VALUES ($1::text::integer, $2, txid_current())",
                    str(message.n),
                    message.key,
                )


class Deadlocked(Ticks):
    """Handlers whose every attempt at tick 3 meets a deadlock."""

    async def on_tick(self, message: Tick, context: MessageContext) -> None:
        """Fail tick 3 as PostgreSQL does when it breaks a deadlock; record the others."""
        if message.n == 3:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        await super().on_tick(message, context)


async def test_an_integer_beyond_int64_is_dead_lettered_on_its_first_delivery(
    setup: Setup,
) -> None:
    channel = setup.names.channel
    forged = f'{{"n": {BEYOND_INT64}, "key": "k"}}'.encode()
    await setup.nc.jetstream().publish(
        channel.subject, forged, headers=build_headers(channel, aggregate_id="k")
    )
    await setup.publish(ticks(3))
    await consume(setup, 3)
    (letter,) = await letters(setup)
    assert letter.attempts == 1 and letter.payload == forged
    assert letter.error.startswith("ValidationError: Tick: n: Input should be less than or equal")


async def test_a_postgresql_numeric_out_of_range_is_dead_lettered_on_its_first_delivery(
    setup: Setup,
) -> None:
    await setup.publish([Tick(n=BEYOND_INT32, key="k"), *ticks(2)])
    handlers = Casting(setup.ctx, setup.names.schema)
    await consume(setup, 2, handlers=handlers)
    (letter,) = await letters(setup)
    assert letter.attempts == 1
    assert letter.error.startswith("NumericValueOutOfRangeError (SQLSTATE 22003): ")
    assert sorted(n for n, _, _ in await setup.applied()) == [0, 1]


async def test_a_value_the_driver_cannot_encode_amid_a_batch_is_dead_lettered_alone_at_once(
    setup: Setup,
) -> None:
    # The batch fails as a whole, is rolled back and replayed one message at a time: the
    # one tick beyond the int32 column fails again, alone, and goes to the DLQ at once.
    await setup.publish([*ticks(10), Tick(n=BEYOND_INT32, key="k"), *ticks(20)[10:]])
    await consume(setup, 20)
    assert sorted(n for n, _, _ in await setup.applied()) == list(range(20))
    (letter,) = await letters(setup)
    assert letter.attempts == 1 and "DataError" in letter.error
    assert str(BEYOND_INT32) in letter.error


async def test_a_deadlock_is_retried_until_max_deliver(setup: Setup) -> None:
    await setup.publish(ticks(5))
    await consume(setup, 4, handlers=Deadlocked(setup.ctx, setup.names.schema))
    (letter,) = await letters(setup)
    assert letter.attempts == POLICY.max_deliver > 1
    assert letter.error.startswith("DeadlockDetectedError (SQLSTATE 40P01): ")
