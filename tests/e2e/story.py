"""Steps of the order stories, as the outside world takes them: REST calls and events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from nats.aio.client import Client

from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import NewProductListed
from generated.inventory.client import InventoryClient
from generated.order.client import OrderClient
from generated.order.models import Delivery, Order, PlaceOrderRequest, StockLine
from generated.payment.client import PaymentClient
from generated.user.client import UserClient
from generated.user.models import RegisterUserRequest
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http import ProblemError
from tests.e2e.harness import TEST_KEY, InProcessPlatform, eventually

FINAL = {"confirmed", "cancelled", "rejected", "delivered"}


class Story:
    """Typed clients of the running services, and the steps tests are made of."""

    def __init__(self, urls: dict[str, str], nc: Client, database_url: str) -> None:
        self.urls = urls
        self.nc = nc
        self.bus = NatsEventSink(nc)
        self.database_url = database_url
        admin = TEST_KEY.issue(uuid.uuid4(), ["admin"])
        self.users = UserClient(urls["user"], http=_client(urls["user"])).with_token(admin)
        self.orders = OrderClient(urls["order"], http=_client(urls["order"])).with_token(admin)
        self.stock = InventoryClient(urls["inventory"], http=_client(urls["inventory"])).with_token(
            admin
        )
        self.payments = PaymentClient(urls["payment"], http=_client(urls["payment"])).with_token(
            admin
        )

    @classmethod
    def of(cls, running: InProcessPlatform, database_url: str) -> Story:
        """A story on an in-process platform."""
        assert running.nc is not None
        return cls({n: s.url for n, s in running.services.items()}, running.nc, database_url)

    async def customer(self) -> UUID:
        """Register a new customer; return their id."""
        profile = await self.users.register_user(
            RegisterUserRequest(
                email=f"c-{uuid.uuid4().hex[:10]}@example.es",
                full_name="Carmen Ruiz",
                role="customer",
                province="jaen",
                password="correct-horse-battery",
            )
        )
        return profile.user_id

    async def product(
        self,
        *,
        stock: int,
        threshold: int = 0,
        price_minor: int = 1250,
        artisan_id: UUID | None = None,
    ) -> UUID:
        """List a product as the artisan service would; wait until inventory and order know it."""
        product_id, artisan_id = uuid.uuid4(), artisan_id or uuid.uuid4()
        await ArtisanPublisher(self.bus).new_product_listed(
            NewProductListed.model_validate(
                {
                    "product_id": product_id,
                    "artisan_id": artisan_id,
                    "name": "Aceite picual 500 ml",
                    "description": "Virgen extra de Jaén.",
                    "category": "olive_oil",
                    "price": {"amount_minor": price_minor, "currency": "EUR"},
                    "initial_stock": stock,
                    "stock_threshold": threshold,
                    "province": "jaen",
                    "listed_at": datetime.now(UTC),
                }
            ),
            aggregate_id=str(product_id),
        )
        await eventually(lambda: self._known(product_id))
        return product_id

    async def _known(self, product_id: UUID) -> bool:
        try:
            await self.stock.get_availability(product_id)
        except ProblemError:
            return False
        connection = await asyncpg.connect(self.database_url)
        try:
            return bool(
                await connection.fetchval(
                    'SELECT count(*) FROM "order".catalogue WHERE product_id = $1', product_id
                )
            )
        finally:
            await connection.close()

    async def place(
        self,
        customer: UUID,
        product: UUID,
        quantity: int = 1,
        card: str = "tok_visa_ok",
        *,
        as_admin: bool = False,
    ) -> Order:
        """Place an order for pickup, as the customer (or as an admin, on their behalf)."""
        token = (
            TEST_KEY.issue(uuid.uuid4(), ["admin"])
            if as_admin
            else TEST_KEY.issue(customer, ["customer"])
        )
        return await self.orders.with_token(token).place_order(
            PlaceOrderRequest(
                customer_id=customer,
                items=[StockLine(product_id=product, quantity=quantity)],
                delivery=Delivery(method="pickup"),
                card_token=card,
            )
        )

    async def settled(
        self, order_id: UUID, status: str | None = None, *, timeout: float = 20.0
    ) -> Order:
        """Wait until the order reaches a final status (or `status`)."""

        async def check() -> Order | None:
            order = await self.orders.get_order(order_id)
            return order if (order.status == status if status else order.status in FINAL) else None

        result: Order = await eventually(check, timeout=timeout)
        return result

    async def available(self, product: UUID) -> tuple[int, int]:
        """(available, reserved) units of a product."""
        availability = await self.stock.get_availability(product)
        return availability.available, availability.reserved

    async def stock_becomes(self, product: UUID, expected: tuple[int, int]) -> None:
        """Wait until the product's (available, reserved) is `expected`.

        Inventory commits a sale after the order is confirmed, so a check right after the
        confirmation must wait for it.
        """

        async def check() -> bool:
            return await self.available(product) == expected

        await eventually(check)

    async def sql(self, query: str, *args: Any) -> list[Any]:
        """Run a read-only query against the platform's database (for assertions)."""
        connection = await asyncpg.connect(self.database_url)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    async def aclose(self) -> None:
        """Close the HTTP pools."""
        for client in (self.users, self.orders, self.stock, self.payments):
            await client.aclose()


def _client(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=5.0)
