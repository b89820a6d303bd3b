"""An event-sourced owner reads an old version back for good, on a real PostgreSQL, with the
real order code: `order.state_changed.v1` retired from the bus and kept `x-stored-only`
beside a v2 the generator upcasts to.

The contracts ship no v2 of an order event, so the test ships one in a copy of the real
contracts (v2 adds an optional `actor`, defaulting to `saga`; v1 becomes stored-only and its
receivers move to v2), generates from it, and loads the generated `versions.py`. History is
written by the real order saga and publisher before v2 (`OrderSaga.change`, `Publisher`);
after v2, the stream is loaded and the read model rebuilt (`OrderViews.rebuild`) with the
generated steps, and both must equal those of the same history written as pure v2.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from codegen.build import build_catalog
from codegen.lint import run_lint
from codegen.loader import Workspace
from codegen.write import generate
from generated.order.events import ORDER_STATE_CHANGED, Publisher
from generated.order.models import OrderCreated
from runtime.bus.base import Channel
from runtime.eventstore.postgres import PostgresEventStore, connection_of
from runtime.outbox.sink import StreamSink
from runtime.saga import SagaState
from runtime.upcasting import Upcasters
from services.order.saga import OrderSaga, Timeouts
from services.order.views import OrderViews
from tests.contract.conftest import CONTRACTS, edit

V1, V2 = "order.state_changed.v1", "order.state_changed.v2"
STEPS = [("pending", "stock_reserved"), ("stock_reserved", "payment_pending")]

V2_CHANNEL = """  orderStateChanged:
    address: order.state_changed.v1
    x-stored-only: true
    description: An order moved from one status to another.
    messages:
      OrderStateChanged: {$ref: '#/components/messages/OrderStateChanged'}
  orderStateChangedV2:
    address: order.state_changed.v2
    x-replaces: order.state_changed.v1
    description: An order moved from one status to another, and who moved it.
    messages:
      OrderStateChanged: {$ref: '#/components/messages/OrderStateChangedV2'}
"""
V2_MESSAGE = """    OrderStateChangedV2:
      name: OrderStateChanged
      title: Order state changed
      summary: An order moved from one status to another, with the reason and who moved it.
      contentType: application/json
      traits: [{$ref: '../schemas/envelope.yaml#/messageTraits/Envelope'}]
      payload: {$ref: '#/components/schemas/OrderStateChangedV2'}
      examples:
        - name: stock_reserved
          payload:
            order_id: 7d1c0b9e-2f0a-4a6e-9d8e-1f2a3b4c5d6e
            customer_id: 0b6f3c2a-1d4e-4f5a-8b9c-0d1e2f3a4b5c
            from_status: pending
            to_status: stock_reserved
            changed_at: '2026-11-28T10:00:01Z'
            actor: saga
    OrderConfirmed:
      name: OrderConfirmed
"""
V2_SCHEMA = """    OrderStateChangedV2:
      type: object
      description: Payload of OrderStateChanged, version 2.
      additionalProperties: false
      required: [order_id, customer_id, from_status, to_status, changed_at]
      properties:
        order_id: {type: string, format: uuid, description: The order.}
        customer_id: {type: string, format: uuid, description: Its customer.}
        from_status: {$ref: '../schemas/common.yaml#/OrderStatus'}
        to_status: {$ref: '../schemas/common.yaml#/OrderStatus'}
        reason: {type: string, maxLength: 500, description: Why it changed.}
        changed_at: {type: string, format: date-time, description: When.}
        actor:
          type: string
          enum: [saga, customer, operator]
          default: saga
          description: Who moved it.
    OrderConfirmed:
      type: object
"""


def ship_v2(contracts: Path) -> None:
    """The real contracts after OrderStateChanged v2: v1 kept for order's store only."""
    order = contracts / "asyncapi" / "order.yaml"
    edit(
        order,
        "  orderStateChanged:\n    address: order.state_changed.v1\n"
        "    description: An order moved from one status to another. The move to"
        " `confirmed` is\n      announced by OrderConfirmed alone, which carries the same"
        " fact and more; every other\n      move is announced here.\n    messages:\n"
        "      OrderStateChanged: {$ref: '#/components/messages/OrderStateChanged'}\n",
        V2_CHANNEL,
    )
    edit(order, "    OrderConfirmed:\n      name: OrderConfirmed\n", V2_MESSAGE)
    edit(order, "    OrderConfirmed:\n      type: object\n", V2_SCHEMA)
    for name in ("order", "analytics", "notification"):
        document = contracts / "asyncapi" / f"{name}.yaml"
        text = document.read_text(encoding="utf-8")
        text = text.replace(
            "  orderStateChanged: {$ref: 'order.yaml#/channels/orderStateChanged'}",
            "  orderStateChangedV2: {$ref: 'order.yaml#/channels/orderStateChangedV2'}",
        )
        text = text.replace("#/channels/orderStateChanged'}", "#/channels/orderStateChangedV2'}")
        text = text.replace("#/channels/orderStateChanged/", "#/channels/orderStateChangedV2/")
        document.write_text(text, encoding="utf-8")


def module(path: Path, name: str) -> ModuleType:
    """A generated module loaded from its file, beside (not instead of) `generated`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """(versions, order models) generated from the contracts with v2 shipped."""
    root = tmp_path_factory.mktemp("shipped")
    contracts = root / "contracts"
    shutil.copytree(CONTRACTS, contracts)
    ship_v2(contracts)
    workspace = Workspace(contracts)
    findings = run_lint(workspace, build_catalog(workspace))
    assert [f for f in findings if f.level == "ERR"] == []
    generate(contracts, root / "generated")
    versions = module(root / "generated" / "versions.py", "shipped_versions")
    models = module(root / "generated" / "order" / "models.py", "shipped_order_models")
    return versions, models


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def created(order_id: str, customer_id: str, placed_at: datetime) -> OrderCreated:
    money = {"amount_minor": 1250, "currency": "EUR"}
    return OrderCreated.model_validate(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "items": [
                {
                    "product_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}/product")),
                    "artisan_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}/artisan")),
                    "quantity": 1,
                    "unit_price": money,
                }
            ],
            "subtotal": money,
            "delivery_fee": {"amount_minor": 0, "currency": "EUR"},
            "total": money,
            "delivery": {"method": "pickup"},
            "placed_at": placed_at,
        }
    )


async def store_of(pool: Any, schema: str) -> tuple[PostgresEventStore, OrderViews]:
    store, views = PostgresEventStore(pool, schema), OrderViews(schema)
    await store.migrate()
    async with pool.acquire() as connection:
        await views.migrate(connection)
    return store, views


async def write_v1_history(store: PostgresEventStore, order_id: str, customer_id: str) -> None:
    """The order service before v2: its publisher and its saga's status changes, all v1."""
    # `change` touches neither the read model nor the saga store: it publishes, as in a handler.
    saga = OrderSaga(OrderViews(store.schema), None, Timeouts())  # type: ignore[arg-type]
    placed = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    async with store.transaction() as tx:
        sink = await StreamSink.at_end(tx, f"order-{order_id}")
        publisher = Publisher(sink)
        await publisher.order_created(created(order_id, customer_id, placed), aggregate_id=order_id)
        data = {"customer_id": customer_id, "status": "pending"}
        state = SagaState(order_id, "reserving_stock", data)
        for i, (_, to_status) in enumerate(STEPS, start=1):
            now = placed + timedelta(seconds=i)
            state = await saga.change(publisher, state, to_status, "moved on", now=now, cause=None)


async def write_v2_history(
    store: PostgresEventStore, models: ModuleType, order_id: str, customer_id: str
) -> None:
    """The same order written after v2 shipped: OrderStateChanged on v2, by the saga."""
    v2 = Channel(V2, "OrderStateChanged", models.OrderStateChangedV2, "event", "order")
    placed = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    async with store.transaction() as tx:
        sink = await StreamSink.at_end(tx, f"order-{order_id}")
        await Publisher(sink).order_created(
            created(order_id, customer_id, placed), aggregate_id=order_id
        )
        for i, (from_status, to_status) in enumerate(STEPS, start=1):
            payload = models.OrderStateChangedV2.model_validate(
                {
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": "moved on",
                    "changed_at": placed + timedelta(seconds=i),
                    "actor": "saga",
                }
            )
            await sink.send(v2, payload, aggregate_id=order_id)


async def loaded(store: PostgresEventStore, order_id: str) -> list[tuple[str, int, Any]]:
    """The order's stream as the service loads it: (type, version, payload) per event."""
    async with store.transaction() as tx:
        return [(e.type, e.version, e.json()) for e in await tx.load(f"order-{order_id}")]


async def rebuilt(store: PostgresEventStore, views: OrderViews) -> list[tuple[Any, ...]]:
    """The orders read model rebuilt from zero by the real projection."""
    async with store.transaction() as tx:
        assert await views.rebuild(tx) == 1 + len(STEPS)
    async with store.transaction() as tx:
        rows = await connection_of(tx).fetch(f'SELECT * FROM "{store.schema}".orders_view')
    return [tuple(r) for r in rows]


async def test_stored_v1_history_loads_and_rebuilds_as_a_pure_v2_history_does(
    pool: Any, unique_id: str, shipped: tuple[ModuleType, ModuleType]
) -> None:
    versions, models = shipped
    assert [(s.source, s.target) for s in versions.STEPS if s.source == V1] == [(V1, V2)]
    order_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
    old_store, old_views = await store_of(pool, f"sv1_{unique_id}")
    pure_store, pure_views = await store_of(pool, f"sv2_{unique_id}")
    try:
        await write_v1_history(old_store, order_id, customer_id)
        await write_v2_history(pure_store, models, order_id, customer_id)

        upcasters = Upcasters(versions.STEPS)  # what ServiceDefinition(versions=STEPS) feeds
        after = PostgresEventStore(pool, old_store.schema, upcasters)
        pure = PostgresEventStore(pool, pure_store.schema, upcasters)
        history = await loaded(after, order_id)
        assert history == await loaded(pure, order_id)
        assert [t for t, _, _ in history] == ["a4co.order.created.v1"] + [f"a4co.{V2}"] * 2
        for _, _, payload in history[1:]:
            assert payload["actor"] == "saga"  # the v2 default, filled in by the upcast
            models.OrderStateChangedV2.model_validate(payload)

        read_model = await rebuilt(after, old_views)
        assert read_model == await rebuilt(pure, pure_views)
        ((row_order, _, status, *_),) = read_model
        assert (str(row_order), status) == (order_id, "payment_pending")

        stored = await pool.fetch(
            f'SELECT subject FROM "{old_store.schema}".events WHERE stream_id = $1'
            " ORDER BY version",
            f"order-{order_id}",
        )
        assert [r["subject"] for r in stored] == ["order.created.v1", V1, V1]  # never rewritten
    finally:
        for schema in (old_store.schema, pure_store.schema):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_without_the_generated_steps_stored_v1_is_not_what_a_v2_reader_expects(
    pool: Any, unique_id: str
) -> None:
    order_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
    store, _ = await store_of(pool, f"sv0_{unique_id}")
    try:
        await write_v1_history(store, order_id, customer_id)
        history = await loaded(store, order_id)  # a store given no upcasters
        assert [t for t, _, _ in history][1:] == [f"a4co.{V1}"] * 2
        assert all("actor" not in payload for _, _, payload in history)
        assert ORDER_STATE_CHANGED.subject == V1  # the real contracts are still on v1
    finally:
        await pool.execute(f'DROP SCHEMA "{store.schema}" CASCADE')
