"""The order saga's steps on real PostgreSQL: each appends its messages and writes the saga's
state and the order's row in one statement, at the stream version read with the saga's lock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from generated.order.models import OrderCreated, OrderStateChanged, ReserveStock
from runtime.eventstore.base import Transaction, VersionConflictError
from runtime.eventstore.postgres import connection_of
from runtime.outbox.sink import StreamSink
from runtime.saga import SagaState
from runtime.saga.postgres import PostgresSagaStore
from services.order.saga import OrderSaga, Step, Timeouts, saga_data
from services.order.views import OrderViews
from tests.conftest import Schema

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


async def placed(
    schema: Schema, sent: list[str] | None = None, *, keeps_versions: bool = True
) -> tuple[OrderSaga, uuid.UUID]:
    """The order saga on the test's schema, and an order placed in a transaction of its
    own (`sent` cleared just before it, to count its statements)."""
    sagas = PostgresSagaStore(schema.name, stream_prefix="order-" if keeps_versions else None)
    saga = OrderSaga(OrderViews(schema.name), sagas, Timeouts())
    async with schema.pool.acquire() as connection:
        await saga.views.migrate(connection)
        await saga.sagas.migrate(connection)
    order_id = uuid.uuid4()
    if sent is not None:
        sent.clear()
    async with schema.store.transaction() as tx:
        await place(saga, tx, order_id)
    return saga, order_id


async def place(saga: OrderSaga, tx: Transaction, order_id: uuid.UUID) -> None:
    """What `OrderApi.place_order` records for a new order of one line."""
    customer, product, artisan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    items = [
        {
            "product_id": str(product),
            "artisan_id": str(artisan),
            "quantity": 2,
            "unit_price": {"amount_minor": 1250, "currency": "EUR"},
        }
    ]
    publisher, sink = saga.publisher(tx, order_id, 0)
    await publisher.order_created(
        OrderCreated.model_validate(
            {
                "order_id": order_id,
                "customer_id": customer,
                "items": items,
                "subtotal": {"amount_minor": 2500, "currency": "EUR"},
                "delivery_fee": {"amount_minor": 0, "currency": "EUR"},
                "total": {"amount_minor": 2500, "currency": "EUR"},
                "delivery": {"method": "pickup"},
                "placed_at": AT,
            }
        ),
        aggregate_id=str(order_id),
    )
    await publisher.reserve_stock(
        ReserveStock.model_validate(
            {
                "order_id": order_id,
                "items": [{"product_id": product, "quantity": 2}],
                "expires_at": AT + timedelta(minutes=15),
            }
        ),
        aggregate_id=str(order_id),
    )
    data = saga_data(
        customer_id=customer,
        status="pending",
        items=items,
        total_minor=2500,
        delivery={"method": "pickup"},
        card_token="tok_visa",
        correlation_id=str(uuid.uuid4()),
        per_artisan=[[str(artisan), 2500]],
    )
    state = SagaState(str(order_id), Step.RESERVING, data)
    await saga.record(tx, state.move(Step.RESERVING, now=AT, timeout=timedelta(seconds=30)), sink)


async def step(
    schema: Schema,
    saga: OrderSaga,
    sent: list[str],
    order_id: uuid.UUID,
    move: Callable[..., Any],
    *args: Any,
) -> list[str]:
    """Run one step of the saga as its handler does; the statements it sent."""
    sent.clear()
    async with schema.store.transaction() as tx:
        state = await saga.sagas.get(tx, str(order_id))
        assert state is not None
        await move(tx, state, *args, now=AT + timedelta(seconds=1), cause=saga.cause_of(state))
    return list(sent)


async def outcome(schema: Schema, saga: OrderSaga, order_id: uuid.UUID) -> tuple[Any, ...]:
    """The order's row (status, version), its saga's step and its stream's versions."""
    async with schema.store.transaction() as tx:
        row = await connection_of(tx).fetchrow(
            f'SELECT status, version FROM "{schema.name}".orders_view WHERE order_id = $1',
            order_id,
        )
        state = await saga.sagas.get(tx, str(order_id), lock=False)
        events = await tx.load(f"order-{order_id}")
    assert state is not None
    return (row["status"], row["version"]), state.step, [e.version for e in events]


async def test_every_step_is_one_statement_and_the_row_follows_the_stream(
    schema: Schema,
) -> None:
    sent = await schema.statements()
    saga, order_id = await placed(schema, sent)
    assert sent == ["BEGIN", "WITH", "COMMIT"]
    reserved = await step(schema, saga, sent, order_id, saga.stock_reserved, uuid.uuid4())
    paid = await step(schema, saga, sent, order_id, saga.paid, uuid.uuid4())
    # The saga's row, read with the stream's version; then everything else in one statement.
    assert reserved == paid == ["BEGIN", "SELECT", "WITH", "COMMIT"]
    # Placed (1, 2), payment asked and announced (3, 4), stock committed and confirmed (5, 6).
    assert await outcome(schema, saga, order_id) == (
        ("confirmed", 6),
        Step.DONE,
        [1, 2, 3, 4, 5, 6],
    )


async def test_a_store_keeping_no_stream_version_appends_first_and_ends_the_same(
    schema: Schema,
) -> None:
    saga, order_id = await placed(schema, keeps_versions=False)
    sent = await schema.statements()
    reserved = await step(schema, saga, sent, order_id, saga.stock_reserved, uuid.uuid4())
    assert reserved == ["BEGIN", "SELECT", "WITH", "WITH", "COMMIT"]  # the append, the rest
    await step(schema, saga, sent, order_id, saga.paid, uuid.uuid4())
    assert await outcome(schema, saga, order_id) == (
        ("confirmed", 6),
        Step.DONE,
        [1, 2, 3, 4, 5, 6],
    )


async def test_an_append_behind_the_sagas_back_fails_the_step_and_writes_nothing(
    schema: Schema,
) -> None:
    saga, order_id = await placed(schema)
    with pytest.raises(VersionConflictError):
        async with schema.store.transaction() as tx:
            state = await saga.sagas.get(tx, str(order_id))
            assert state is not None and state.stream_version == 2
            async with schema.store.transaction() as other:  # no saga lock taken
                await saga.publisher(other, order_id, None)[0].order_state_changed(
                    OrderStateChanged.model_validate(
                        {
                            "order_id": order_id,
                            "customer_id": state.data["customer_id"],
                            "from_status": "pending",
                            "to_status": "pending",
                            "reason": "Appended without the saga's lock.",
                            "changed_at": AT,
                        }
                    ),
                    aggregate_id=str(order_id),
                )
            await saga.stock_reserved(tx, state, uuid.uuid4(), now=AT, cause=saga.cause_of(state))
    # The step left nothing behind: the saga still reserves and the row is the placed one.
    assert await outcome(schema, saga, order_id) == (("pending", 1), Step.RESERVING, [1, 2, 3])


async def test_a_sink_at_the_end_of_its_stream_knows_no_versions_ahead(schema: Schema) -> None:
    async with schema.store.transaction() as tx:
        at_end, at_two = StreamSink(tx, "order-a", None), StreamSink(tx, "order-b", 2)
        assert (at_end.knows_version, at_two.knows_version) == (False, True)
        assert at_two.ahead() == []
        with pytest.raises(RuntimeError, match="unknown"):
            at_end.ahead()
