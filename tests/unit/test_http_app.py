"""The app factory with a generated router and the generated client, in process (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from generated.order.api import build_router
from generated.order.client import OrderClient
from generated.order.models import (
    CancelOrderRequest,
    Delivery,
    Money,
    Order,
    OrderItem,
    OrderPage,
    PlaceOrderRequest,
    StockLine,
)
from runtime.eventstore import StoreUnavailableError
from runtime.http import CORRELATION_HEADER, PROBLEM_JSON, ProblemError, create_app
from runtime.http.auth import Principal, SigningKey

ARTISAN = UUID("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")
KEY = SigningKey.generate("unit")


class OrdersApi:
    """A tiny in-memory implementation of the generated order `Api` protocol."""

    def __init__(self) -> None:
        self.orders: dict[UUID, Order] = {}

    async def place_order(self, principal: Principal, body: PlaceOrderRequest) -> Order:
        now = datetime.now(UTC)
        items = [
            OrderItem(
                product_id=i.product_id,
                artisan_id=ARTISAN,
                quantity=i.quantity,
                unit_price=Money(amount_minor=1000, currency="EUR"),
            )
            for i in body.items
        ]
        total = sum(i.quantity * 1000 for i in body.items)
        order = Order(
            order_id=uuid.uuid4(),
            customer_id=body.customer_id,
            status="pending",
            items=items,
            total=Money(amount_minor=total, currency="EUR"),
            delivery=body.delivery,
            placed_at=now,
            updated_at=now,
        )
        self.orders[order.order_id] = order
        return order

    async def get_order(self, principal: Principal, order_id: UUID) -> Order:
        if order_id not in self.orders:
            raise ProblemError(404, "Not Found", f"No order {order_id}.")
        return self.orders[order_id]

    async def list_orders(
        self,
        principal: Principal,
        *,
        customer_id: UUID,
        status: Any = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> OrderPage:
        mine = [o for o in self.orders.values() if o.customer_id == customer_id]
        return OrderPage(items=mine[:limit])

    async def cancel_order(
        self, principal: Principal, order_id: UUID, body: CancelOrderRequest
    ) -> Order:
        order = await self.get_order(principal, order_id)
        if order.status != "pending":
            raise ProblemError(409, "Conflict", "The order can no longer be cancelled.")
        self.orders[order_id] = order.model_copy(update={"status": "cancelled"})
        return self.orders[order_id]


@pytest.fixture
def http() -> httpx.AsyncClient:
    ready: list[bool] = [True]

    async def check() -> bool:
        return ready[0]

    app = create_app("order", [build_router(OrdersApi())], readiness=[check], verifier=KEY)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://order",
        headers={"Authorization": f"Bearer {KEY.issue(uuid.uuid4(), ['admin'])}"},
    )
    client.ready = ready  # type: ignore[attr-defined]
    return client


def place(method: Literal["standard", "pickup"] = "pickup") -> PlaceOrderRequest:
    return PlaceOrderRequest(
        customer_id=uuid.uuid4(),
        card_token="tok_visa_ok",
        items=[StockLine(product_id=uuid.uuid4(), quantity=2)],
        delivery=Delivery(method=method),
    )


async def test_generated_client_round_trips_through_the_generated_router(
    http: httpx.AsyncClient,
) -> None:
    client = OrderClient("http://order", http=http)
    order = await client.place_order(place())
    assert order.status == "pending" and order.total.amount_minor == 2000
    assert await client.get_order(order.order_id) == order
    page = await client.list_orders(customer_id=order.customer_id)
    assert [o.order_id for o in page.items] == [order.order_id]
    cancelled = await client.cancel_order(order.order_id, CancelOrderRequest(reason="no"))
    assert cancelled.status == "cancelled"


async def test_domain_problem_reaches_the_client_as_problem_error(http: httpx.AsyncClient) -> None:
    client = OrderClient("http://order", http=http)
    with pytest.raises(ProblemError) as caught:
        await client.get_order(uuid.uuid4())
    assert caught.value.status == 404 and caught.value.problem.title == "Not Found"


async def test_a_lost_database_is_a_503_problem_with_retry_after() -> None:
    class Unavailable(OrdersApi):
        async def get_order(self, principal: Principal, order_id: UUID) -> Order:
            raise StoreUnavailableError("PostgreSQL unavailable: connection was closed")

    app = create_app("order", [build_router(Unavailable())], verifier=KEY)
    token = KEY.issue(uuid.uuid4(), ["admin"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://order"
    ) as client:
        response = await client.get(
            f"/orders/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "1"
    assert "closed" not in response.text  # the driver's words stay in the service's log


async def test_malformed_json_is_a_400_problem(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/orders", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 400


async def test_contract_violation_is_a_422_problem_naming_the_field(
    http: httpx.AsyncClient,
) -> None:
    body = place().model_dump(mode="json", exclude_none=True)
    body["items"][0]["quantity"] = 0
    response = await http.post("/orders", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "quantity" in response.json()["detail"]


async def test_unknown_route_is_a_404_problem(http: httpx.AsyncClient) -> None:
    response = await http.get("/nowhere")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_correlation_id_is_echoed_or_created(http: httpx.AsyncClient) -> None:
    given = await http.get("/healthz", headers={CORRELATION_HEADER: "abc-123"})
    assert given.headers[CORRELATION_HEADER] == "abc-123"
    created = await http.get("/healthz")
    assert uuid.UUID(created.headers[CORRELATION_HEADER])


async def test_the_correlation_id_is_set_once_even_when_a_route_sets_its_own() -> None:
    router = APIRouter()

    @router.get("/own")
    async def own() -> Response:
        return Response("x", headers={CORRELATION_HEADER: "from-the-route"})

    app = create_app("order", [router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o") as c:
        answer = await c.get("/own", headers={CORRELATION_HEADER: "abc-123"})
    assert answer.headers.get_list(CORRELATION_HEADER) == ["abc-123"]


async def test_a_handler_that_crashes_is_counted_as_a_500_and_a_stream_flows_through() -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"data: 1\n\n", b"data: 2\n\n"):
                yield part

        return StreamingResponse(parts(), media_type="text/event-stream")

    app = create_app("order", [router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://o") as c:
        assert (await c.get("/boom")).status_code == 500
        streamed = await c.get("/stream", headers={CORRELATION_HEADER: "s-1"})
        metrics = (await c.get("/metrics")).text
    assert (streamed.text, streamed.headers[CORRELATION_HEADER]) == (
        "data: 1\n\ndata: 2\n\n",
        "s-1",
    )
    assert 'http_requests_total{service="order",status="500"} 1.0' in metrics


async def test_readiness_follows_its_checks_and_metrics_count_requests(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/readyz")).status_code == 200
    http.ready[0] = False  # type: ignore[attr-defined]
    not_ready = await http.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.headers["content-type"] == PROBLEM_JSON
    metrics = (await http.get("/metrics")).text
    assert 'http_requests_total{service="order",status="503"}' in metrics


async def test_request_latency_is_observed_by_operation_id_and_not_for_unrouted_paths(
    http: httpx.AsyncClient,
) -> None:
    order = await OrderClient("http://order", http=http).place_order(place())
    await http.get(f"/orders/{order.order_id}")
    await http.get("/nowhere")
    metrics = (await http.get("/metrics")).text
    placed = 'operation="placeOrder",service="order"'
    assert f"a4co_http_request_seconds_count{{{placed}}} 1.0" in metrics
    assert f'a4co_http_request_seconds_bucket{{le="0.5",{placed}}} 1.0' in metrics
    assert 'a4co_http_request_seconds_count{operation="getOrder",service="order"} 1.0' in metrics
    observed = [line for line in metrics.splitlines() if line.startswith("a4co_http_request_")]
    assert not any('operation=""' in line or "healthz" in line for line in observed)


async def test_missing_role_is_a_403_and_missing_token_a_401() -> None:
    app = create_app("order", [build_router(OrdersApi())], verifier=KEY)
    transport = httpx.ASGITransport(app=app)
    customer = KEY.issue(uuid.uuid4(), ["customer"])
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as http:
        anonymous = await http.post(
            "/orders", json=place().model_dump(mode="json", exclude_none=True)
        )
        wrong_scheme = await http.get(
            f"/orders/{uuid.uuid4()}", headers={"Authorization": f"Basic {customer}"}
        )
        as_customer = await http.post(
            "/orders",
            json=place().model_dump(mode="json", exclude_none=True),
            headers={"Authorization": f"Bearer {customer}"},
        )

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM_JSON)
    assert wrong_scheme.status_code == 401
    assert as_customer.status_code == 201
