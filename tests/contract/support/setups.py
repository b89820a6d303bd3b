"""What an emitting operation needs before it can succeed, made through the real flows.

Each setup takes the running platform and returns the call to make: its path, its body and
the bearer token to send. They register users, log in, apply and verify artisans, list
products (as the artisan service announces them) and place orders over REST and the bus,
as `tests/e2e/story.py` does, so the operation under test runs against real state.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from tests.e2e.harness import TEST_KEY, eventually
from tests.e2e.story import Story

__all__ = ["SETUPS", "Call", "Setup"]

PASSWORD = "Olivar-de-Jaen-2026"
ADDRESS = {"line1": "Calle Maestra 12", "city": "Jaén", "postal_code": "23002", "province": "jaen"}


@dataclass(frozen=True)
class Call:
    """The request that exercises an emitting operation."""

    path: str
    body: Any
    token: str | None = None
    """A bearer other than the admin's (`None`: the admin's)."""


@dataclass
class Setup:
    """The running platform as seen by a setup: REST as an admin, and the order story."""

    urls: dict[str, str]
    admin: str
    story: Story

    async def call(self, service: str, method: str, path: str, body: Any = None) -> Any:
        """Call a service as the admin; fail naming the step when it does not succeed."""
        async with httpx.AsyncClient(base_url=self.urls[service], timeout=10.0) as http:
            response = await http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {self.admin}"}
            )
        assert response.is_success, (
            f"setup step {method} {service}{path} answered {response.status_code}: {response.text}"
        )
        return response.json()

    async def user(self, role: str = "customer") -> tuple[UUID, str]:
        """A registered user with a password: (id, e-mail)."""
        email = f"c-{uuid.uuid4().hex[:10]}@example.es"
        body = {
            "email": email,
            "full_name": "Carmen Ruiz",
            "role": role,
            "province": "jaen",
            "password": PASSWORD,
        }
        made = await self.call("user", "POST", "/users", body)
        return UUID(made["user_id"]), email

    async def order(self, *, delivery: dict[str, Any], card: str = "tok_visa_ok") -> UUID:
        """An order placed by a new customer for a product order knows; its id."""
        customer = (await self.user())[0]
        product = await self.story.product(stock=5)
        body = {
            "customer_id": str(customer),
            "items": [{"product_id": str(product), "quantity": 1}],
            "delivery": delivery,
            "card_token": card,
        }
        return UUID((await self.call("order", "POST", "/orders", body))["order_id"])

    async def shipment(self, *, delivery: dict[str, Any]) -> UUID:
        """The shipment that shipping creates once an order is confirmed; its id."""
        order_id = await self.order(delivery=delivery)

        async def created() -> str | None:
            found = await self.call("shipping", "GET", f"/shipments?order_id={order_id}")
            return str(found["items"][0]["shipment_id"]) if found["items"] else None

        return UUID(await eventually(created, timeout=30.0))


async def _list_product(s: Setup, example: Any) -> Call:
    """A verified artisan lists a product, with a token of the artisan's own user."""
    user_id = (await s.user("artisan"))[0]
    application = {
        "user_id": str(user_id),
        "business_name": "Almazara Sierra Mágina",
        "description": "Family olive mill in Bedmar since 1952.",
        "province": "jaen",
        "categories": ["olive_oil"],
    }
    artisan_id = (await s.call("artisan", "POST", "/artisans", application))["artisan_id"]
    verify = {"verification_level": "basic"}
    await s.call("artisan", "POST", f"/artisans/{artisan_id}/verify", verify)
    token = TEST_KEY.issue(user_id, ["artisan"], lifetime=600)
    return Call(f"/artisans/{artisan_id}/products", example, token)


async def _revoke_token(s: Setup, example: Any) -> Call:
    """A refresh token of a live session: log in once auth has the new user's credentials."""
    _, email = await s.user()
    grant = {"grant_type": "password", "username": email, "password": PASSWORD}

    async def logged_in() -> str | None:
        async with httpx.AsyncClient(base_url=s.urls["auth"], timeout=10.0) as http:
            response = await http.post("/token", json=grant)
        return str(response.json()["refresh_token"]) if response.status_code == 200 else None

    refresh = await eventually(logged_in, timeout=30.0)
    return Call("/revoke", {"token": refresh, "token_type_hint": "refresh_token"})


async def _send_chat_message(s: Setup, example: Any) -> Call:
    """A conversation of two new users; the first of them sends."""
    sender, other = (await s.user())[0], (await s.user())[0]
    opened = await s.call(
        "chat", "POST", "/conversations", {"participant_ids": [str(sender), str(other)]}
    )
    return Call(
        f"/conversations/{opened['conversation_id']}/messages",
        {**example, "sender_id": str(sender)},
    )


async def _publish_page(s: Setup, example: Any) -> Call:
    """A new slug: publishing creates the page."""
    return Call(f"/pages/contract-{uuid.uuid4().hex[:12]}", example)


async def _set_stock(s: Setup, example: Any) -> Call:
    """A product inventory knows with 20 units, counted down to one under a new threshold:
    availability crosses it, so the (conditional) threshold alert is published too."""
    product = await s.story.product(stock=20, threshold=0)
    return Call(f"/stock/{product}", {**example, "on_hand": 4, "threshold": 5})


async def _place_order(s: Setup, example: Any) -> Call:
    """A new customer orders a product that order knows (listed as artisan announces it)."""
    customer = (await s.user())[0]
    product = await s.story.product(stock=5)
    items = [{**item, "product_id": str(product), "quantity": 1} for item in example["items"]]
    return Call("/orders", {**example, "customer_id": str(customer), "items": items})


async def _cancel_order(s: Setup, example: Any) -> Call:
    """An order whose payment never answers (`tok_timeout`), so it is still cancellable;
    once it waits for that payment, so the cancellation's compensation is the only flow
    left (cancelled while stock is still being reserved, the order's own reservation
    messages race with the compensation's)."""
    order_id = await s.order(delivery={"method": "pickup"}, card="tok_timeout")

    async def paying() -> bool:
        order = await s.call("order", "GET", f"/orders/{order_id}")
        return bool(order["status"] == "payment_pending")

    await eventually(paying, timeout=30.0)
    return Call(f"/orders/{order_id}/cancel", example)


async def _dispatch_shipment(s: Setup, example: Any) -> Call:
    """A confirmed order's standard shipment, dispatched now (not before it was created)."""
    shipment = await s.shipment(delivery={"method": "standard", "address": ADDRESS})
    return Call(f"/shipments/{shipment}/dispatch", {**example, "dispatched_at": _now()})


async def _deliver_shipment(s: Setup, example: Any) -> Call:
    """A confirmed order's pickup shipment, which is delivered without a dispatch."""
    shipment = await s.shipment(delivery={"method": "pickup"})
    return Call(f"/shipments/{shipment}/deliver", {**example, "delivered_at": _now()})


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


SETUPS: dict[str, Callable[[Setup, Any], Awaitable[Call]]] = {
    "listProduct": _list_product,
    "revokeToken": _revoke_token,
    "sendChatMessage": _send_chat_message,
    "publishPage": _publish_page,
    "setStock": _set_stock,
    "placeOrder": _place_order,
    "cancelOrder": _cancel_order,
    "dispatchShipment": _dispatch_shipment,
    "deliverShipment": _deliver_shipment,
}
"""Per operation id: from the platform and the contract's example body, the call to make."""
