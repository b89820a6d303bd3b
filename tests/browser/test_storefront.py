"""The storefront in headless Chromium against the real platform, through the gateway only.

The services run in process (`InProcessPlatform`) and verify tokens against the real auth
service's JWKS, so the page logs in as a browser would. An artisan lists a product through
the artisan REST flow first; then the page searches, opens it, registers, logs in, orders it
for pickup with `tok_visa_ok`, and shows `confirmed` when the notification stream says so.
The page then tracks the purchase, the recommendation service learns it, and the page's
picks are the service's, without the bought product. The `page` fixture fails the test on
any console error.

Needs chromium (`make install-browser`) and TypeScript (`make install-node`): the storefront
is compiled (`make storefront`'s command) before it is served.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import pytest

from generated.artisan.client import ArtisanClient
from generated.artisan.models import ArtisanApplication, ProductListingRequest, VerifyArtisanRequest
from generated.auth.client import AuthClient
from generated.auth.models import TokenRequest
from generated.order.client import OrderClient
from generated.product.client import ProductClient
from generated.recommendation.client import RecommendationClient
from generated.user.client import UserClient
from generated.user.models import RegisterUserRequest
from runtime.http import ProblemError, RestClient
from services.artisan.service import definition as artisan
from services.auth.service import definition as auth
from services.gateway.config import SERVICES as BEHIND_GATEWAY
from services.gateway.config import GatewayConfig
from services.gateway.service import definition as gateway
from services.geo.service import definition as geo
from services.inventory.service import definition as inventory
from services.notification.service import definition as notification
from services.order.service import definition as order
from services.payment.service import definition as payment
from services.product.service import definition as product
from services.recommendation.service import definition as recommendation
from services.user.service import definition as user
from tests.browser.conftest import static_server
from tests.e2e.harness import InProcessPlatform, eventually

REPO = Path(__file__).resolve().parents[2]
STOREFRONT = REPO / "storefront"
TSC = REPO / ".a4co" / "node" / "node_modules" / ".bin" / "tsc"
PASSWORD = "correct-horse-battery"
SLOW = 30.0
"""Seconds to wait for an outcome several services away (a projection, the saga)."""
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

C = TypeVar("C", bound=RestClient)


@pytest.fixture(scope="module")
def storefront_url() -> Iterator[str]:
    """storefront/ compiled (as `make storefront` does) and served over HTTP."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: apt-get install -y nodejs npm", pytrace=False)
    if not TSC.exists():
        pytest.fail(f"TypeScript is not installed at {TSC}: run `make install-node`", pytrace=False)
    built = subprocess.run(
        [node, str(TSC), "-p", str(STOREFRONT)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    with static_server(STOREFRONT) as url:
        yield url


@pytest.fixture(scope="module")
async def edge(
    nats_url: str, database_url: str, redis_url: str
) -> AsyncIterator[tuple[InProcessPlatform, str]]:
    """The services the storefront needs, behind the gateway; yields it and the admin login."""
    run = uuid.uuid4().hex[:10]
    bootstrap = f"admin-{run}@a4co.test:admin-password-{run}"

    def edge_proxy(urls: dict[str, str]) -> Any:
        upstreams = {name: urls[name] for name in BEHIND_GATEWAY if name in urls}
        config = GatewayConfig(
            upstreams=upstreams,
            rate_limit="1000/second",
            token_rate_limit="1000/minute",
            namespace=f"a4co:test:{run}",
        )
        return gateway(config)

    definitions: dict[str, Any] = {
        "auth": lambda urls: auth(bootstrap_admin=bootstrap),
        "gateway": edge_proxy,
        "user": lambda urls: user(),
        "geo": lambda urls: geo(),
        "artisan": lambda urls: artisan(geo_url=urls["geo"]),
        "product": lambda urls: product(),
        "inventory": lambda urls: inventory(expiry_interval=0.5),
        "order": lambda urls: order(user_url=urls["user"], scan_interval=0.2),
        "payment": lambda urls: payment(),
        "notification": lambda urls: notification(),
        "recommendation": lambda urls: recommendation(),
    }
    running = InProcessPlatform(
        nats_url, database_url, verifier=None, redis_url=redis_url, jwks_from="auth"
    )
    try:
        await running.start(definitions)
        yield running, bootstrap
    finally:
        await running.stop()


class Gateway:
    """Typed Python clients of the services behind the gateway, for seeding and checking."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pools: dict[str, httpx.AsyncClient] = {}

    def client(self, kind: type[C], service: str, token: str = "") -> C:
        """A `kind` client of `<gateway>/api/<service>`, as the bearer of `token` if given."""
        base = f"{self.url}/api/{service}"
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = httpx.AsyncClient(base_url=base, timeout=10.0)
        return kind(base, http=pool, retries=0).with_token(token)

    async def aclose(self) -> None:
        """Close every connection pool."""
        for pool in self._pools.values():
            await pool.aclose()

    async def log_in(self, email: str, password: str) -> str:
        """An access token, once auth has made the login (from the user service's events)."""

        async def attempt() -> str | None:
            try:
                tokens = await self.client(AuthClient, "auth").issue_token(
                    TokenRequest(grant_type="password", username=email, password=password)
                )
            except ProblemError as exc:
                if exc.status != 401:
                    raise
                return None
            return tokens.access_token

        token: str = await eventually(attempt, timeout=SLOW, interval=0.2)
        return token


@dataclass(frozen=True)
class Listed:
    """The product an artisan listed for the test."""

    product_id: UUID
    name: str
    word: str
    companion: UUID
    """Another olive oil of the same artisan, for recommendation to offer."""


async def list_product(gw: Gateway, bootstrap: str, database_url: str) -> Listed:
    """An artisan registers, applies and is verified, then lists a product (and a companion
    of the same category); wait until the catalogue shows the product with stock and the
    order service can sell it."""
    email = f"artisan-{uuid.uuid4().hex[:10]}@example.es"
    maker = await gw.client(UserClient, "user").register_user(
        RegisterUserRequest(
            email=email,
            full_name="Antonio Olivar",
            role="artisan",
            province="jaen",
            password=PASSWORD,
        )
    )
    maker_token = await gw.log_in(email, PASSWORD)
    applied = await gw.client(ArtisanClient, "artisan", maker_token).apply_artisan(
        ArtisanApplication.model_validate(
            {
                "user_id": maker.user_id,
                "business_name": "Almazara Olivar",
                "description": "Aceite de oliva virgen extra de la Sierra de Cazorla.",
                "province": "jaen",
                "categories": ["olive_oil"],
            }
        )
    )
    admin_email, _, admin_password = bootstrap.partition(":")
    admin_token = await gw.log_in(admin_email, admin_password)
    await gw.client(ArtisanClient, "artisan", admin_token).verify_artisan(
        applied.artisan_id, VerifyArtisanRequest(verification_level="basic")
    )
    word = f"picual{uuid.uuid4().hex[:8]}"
    name = f"Aceite {word} 500 ml"
    maker_products = gw.client(ArtisanClient, "artisan", maker_token)
    listed, companion = [
        await maker_products.list_product(
            applied.artisan_id,
            ProductListingRequest.model_validate(
                {
                    "name": product_name,
                    "description": "Virgen extra, cosecha temprana.",
                    "category": "olive_oil",
                    "price": {"amount_minor": 1250, "currency": "EUR"},
                    "initial_stock": 10,
                    "stock_threshold": 0,
                }
            ),
        )
        for product_name in (name, f"Aceite {word} 250 ml")
    ]
    catalogue = gw.client(ProductClient, "product")

    async def sellable() -> bool:
        page = await catalogue.search_products(q=word)
        shown = [p for p in page.items if p.product_id == listed.product_id and p.available > 0]
        return bool(shown) and await _order_service_knows(database_url, listed.product_id)

    await eventually(sellable, timeout=SLOW, interval=0.2)
    return Listed(listed.product_id, name, word, companion.product_id)


async def _recommendation_learnt(database_url: str, user_id: UUID, product_id: UUID) -> bool:
    """Whether recommendation has the purchase: the product bought, and its category's weight."""
    connection = await asyncpg.connect(database_url)
    try:
        return bool(
            await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM recommendation.bought"
                " WHERE user_id = $1 AND product_id = $2)"
                " AND EXISTS (SELECT 1 FROM recommendation.affinities"
                " WHERE user_id = $1 AND category = 'olive_oil' AND weight >= 5)",
                user_id,
                product_id,
            )
        )
    finally:
        await connection.close()


async def _order_service_knows(database_url: str, product_id: UUID) -> bool:
    connection = await asyncpg.connect(database_url)
    try:
        return bool(
            await connection.fetchval(
                'SELECT count(*) FROM "order".catalogue WHERE product_id = $1', product_id
            )
        )
    finally:
        await connection.close()


async def test_a_visitor_orders_and_sees_the_confirmation_arrive_live(
    page: Any,
    storefront_url: str,
    edge: tuple[InProcessPlatform, str],
    database_url: str,
) -> None:
    from playwright.async_api import expect

    running, bootstrap = edge
    gw = Gateway(running.url("gateway"))
    try:
        listed = await list_product(gw, bootstrap, database_url)
        response = await page.goto(f"{storefront_url}index.html?gateway={gw.url}")
        assert response is not None and response.ok
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")

        # Search, and open the product.
        await page.fill("#search-query", listed.word)
        await page.click("#search-form button[type=submit]")
        link = page.locator(f'#results .product-link[data-product-id="{listed.product_id}"]')
        await expect(link).to_have_count(1)
        await link.click()
        await expect(page.locator("#product-name")).to_have_text(listed.name)
        await expect(page.locator("#product-price")).to_have_text("12,50 EUR")
        await expect(page.locator("#order-button")).to_be_disabled()

        # Register, then log in once auth has made the login (so the page meets no 401).
        email = f"customer-{uuid.uuid4().hex[:10]}@example.es"
        form = page.locator("#register-form")
        await form.locator("[name=full_name]").fill("Carmen Ruiz")
        await form.locator("[name=email]").fill(email)
        await form.locator("[name=password]").fill(PASSWORD)
        await form.locator("[name=province]").select_option("jaen")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#account-message")).to_contain_text(f"Registered {email}")
        await gw.log_in(email, PASSWORD)
        login = page.locator("#login-form")
        await expect(login.locator("[name=email]")).to_have_value(email)
        await login.locator("[name=password]").fill(PASSWORD)
        await login.locator("button[type=submit]").click()
        await expect(page.locator("#session")).to_have_attribute("data-state", "logged-in")
        await expect(page.locator("#stream-state")).to_have_attribute("data-state", "open")
        customer_id = await page.locator("#session").get_attribute("data-user-id")

        # Order for pickup; the status moves on only through the notification stream.
        await expect(page.locator("#order-button")).to_be_enabled()
        await page.click("#order-button")
        order_id = page.locator("#order-id")
        await expect(order_id).to_have_text(UUID_TEXT)
        status = page.locator("#order-status")
        await expect(status).to_have_text("confirmed", timeout=SLOW * 1000)
        await expect(status).to_have_attribute("data-source", "stream")
        await expect(page.locator('#feed li[data-template="order_confirmed"]')).to_have_count(1)

        # The platform agrees.
        token = await gw.log_in(email, PASSWORD)
        placed = await gw.client(OrderClient, "order", token).get_order(
            UUID(await order_id.inner_text())
        )
        assert placed.status == "confirmed"
        assert str(placed.customer_id) == customer_id
        assert [(i.product_id, i.quantity) for i in placed.items] == [(listed.product_id, 1)]
        assert placed.delivery.method == "pickup"

        # The page told the user service of the purchase; recommendation learnt it.
        await expect(page.locator("#tracked")).to_have_attribute("data-last", "purchased")
        customer = UUID(customer_id)
        await eventually(
            lambda: _recommendation_learnt(database_url, customer, listed.product_id),
            timeout=SLOW,
            interval=0.2,
        )

        # The page shows the service's picks, in its order and named, never the bought product.
        picks = gw.client(RecommendationClient, "recommendation", token)
        seen: list[list[str]] = []

        async def shown_as_served() -> bool:
            await page.click("#recommendations-refresh")
            await page.wait_for_timeout(300)
            served = (await picks.get_recommendations(customer, limit=5)).items
            shown = await page.locator("#recommendations li").evaluate_all(
                "items => items.map((item) => item.dataset.productId)"
            )
            seen.append(shown)
            return bool(served) and shown == [str(p.product_id) for p in served]

        await eventually(shown_as_served, timeout=SLOW, interval=0.2)
        assert str(listed.product_id) not in seen[-1]
        assert await page.locator("#recommendations li button").count() == len(seen[-1])
    finally:
        await gw.aclose()
