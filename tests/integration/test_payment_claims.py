"""Payment charges an order once, however many copies of its command arrive at once.

The handlers run on a real PostgreSQL, in a schema of the test's own.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from uuid import UUID

from generated.payment.events import PROCESS_PAYMENT
from generated.payment.models import ProcessPayment
from runtime.bus.memory import InMemoryEventSink
from runtime.service import ServiceContext
from runtime.service.settings import Settings
from services.payment.domain import GatewayOutcome, SimulatedGateway
from services.payment.handlers import PaymentHandlers
from services.payment.payments import PaymentTables
from tests.conftest import Schema, context_of


class CountingGateway(SimulatedGateway):
    """The simulator, counting its charges and slow to answer (a copy arrives meanwhile)."""

    def __init__(self) -> None:
        self.charges = 0

    async def charge(self, card_token: str, amount_minor: int) -> GatewayOutcome:
        self.charges += 1
        await asyncio.sleep(0.2)
        return await super().charge(card_token, amount_minor)


def command(order_id: UUID, artisans: list[UUID]) -> ProcessPayment:
    return ProcessPayment.model_validate(
        {
            "order_id": order_id,
            "customer_id": uuid.uuid4(),
            "amount": {"amount_minor": 3000, "currency": "EUR"},
            "card_token": "tok_visa_ok",
            "lines": [
                {"artisan_id": a, "amount": {"amount_minor": 1500, "currency": "EUR"}}
                for a in artisans
            ],
        }
    )


async def payment_service(
    schema: Schema, database_url: str
) -> tuple[PaymentHandlers, PaymentTables, CountingGateway]:
    tables, gateway = PaymentTables(schema.name), CountingGateway()
    async with schema.pool.acquire() as connection:
        await tables.migrate(connection)
    settings = Settings(service=schema.name, nats_url="nats://unused", database_url=database_url)
    ctx = ServiceContext(settings, schema.store, InMemoryEventSink())
    return PaymentHandlers(ctx, tables, gateway), tables, gateway


async def test_two_copies_of_a_payment_command_at_once_charge_the_order_once(
    schema: Schema, database_url: str
) -> None:
    handlers, _, gateway = await payment_service(schema, database_url)
    order = uuid.uuid4()
    message = command(order, [uuid.uuid4(), uuid.uuid4()])

    await asyncio.gather(
        *(
            handlers.process_payment(message, context_of(PROCESS_PAYMENT, str(order)))
            for _ in range(2)
        )
    )

    assert gateway.charges == 1
    rows = await schema.pool.fetch(
        f'SELECT status FROM "{schema.name}".payments WHERE order_id = $1', order
    )
    assert [r["status"] for r in rows] == ["succeeded"]
    types = await schema.pool.fetch(f'SELECT type FROM "{schema.name}".events ORDER BY position')
    assert [r["type"] for r in types] == [
        "a4co.payment.initiated.v1",
        "a4co.payment.succeeded.v1",
        "a4co.payment.split_created.v1",
    ]


async def test_the_split_takes_each_artisans_known_tier_and_the_basic_one_otherwise(
    schema: Schema, database_url: str
) -> None:
    handlers, tables, _ = await payment_service(schema, database_url)
    known, unknown = uuid.uuid4(), uuid.uuid4()
    async with schema.store.transaction() as tx:
        await tables.set_tier(tx, known, "premium", datetime.now(UTC))
    order = uuid.uuid4()

    await handlers.process_payment(
        command(order, [known, unknown]), context_of(PROCESS_PAYMENT, str(order))
    )

    async with schema.store.transaction() as tx:
        payment = await tables.by_order(tx, order)
    assert payment is not None and payment.splits is not None
    tiers = {s.artisan_id: s.tier for s in payment.splits}
    assert tiers == {known: "premium", unknown: "basic"}


async def test_a_payments_messages_are_appended_with_its_row_in_one_statement(
    schema: Schema, database_url: str
) -> None:
    handlers, _, _ = await payment_service(schema, database_url)
    order = uuid.uuid4()
    sent = await schema.statements()

    await handlers.process_payment(
        command(order, [uuid.uuid4()]), context_of(PROCESS_PAYMENT, str(order))
    )

    # The claim (with the tiers), then initiated, succeeded and the split with the row.
    assert sent[-3:] == ["WITH", "WITH", "COMMIT"]
    row = await schema.pool.fetchrow(
        f'SELECT status, splits IS NOT NULL AS split FROM "{schema.name}".payments'
        " WHERE order_id = $1",
        order,
    )
    assert tuple(row) == ("succeeded", True)
    assert await schema.pool.fetchval(f'SELECT count(*) FROM "{schema.name}".events') == 3
