"""The product service in-process on the session's real NATS and PostgreSQL.

Events reach it the way they do in production: published on the bus (as artisan and
inventory would) and consumed by its durable consumers. The catalogue is shared with the
session, so each test works with fresh artisans and filters by them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import (
    ArtisanPerformanceEvaluated,
    ArtisanVerified,
    NewProductListed,
)
from generated.inventory.events import Publisher as InventoryPublisher
from generated.inventory.models import StockAdjusted
from generated.platform import STREAMS
from generated.product.client import ProductClient
from generated.product.events import PRODUCT_CATALOG_UPDATED
from generated.product.models import ProductCatalogUpdated
from runtime.bus.nats_publisher import NatsEventSink
from runtime.eventstore.postgres import PostgresEventStore, connection_of
from runtime.service import ServiceHost, Settings
from services.product.catalogue import Catalogue
from services.product.service import NAME, definition
from tests.e2e.harness import eventually

BASE = "http://product.test"


@dataclass
class Running:
    """The product service's clients and publishers standing in for artisan and inventory."""

    http: httpx.AsyncClient
    products: ProductClient
    nc: Client
    artisan: ArtisanPublisher
    inventory: InventoryPublisher
    db: asyncpg.Pool

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether the consumer's inbox holds the message (it was handled and committed)."""
        return bool(
            await self.db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM product.inbox WHERE consumer = $1"
                " AND message_id = $2)",
                f"product.{consumer}",
                message_id,
            )
        )

    async def verify(self, artisan_id: UUID, level: str = "basic") -> None:
        """Publish ArtisanVerified."""
        await self.artisan.artisan_verified(
            ArtisanVerified.model_validate(
                {
                    "artisan_id": artisan_id,
                    "user_id": uuid.uuid4(),
                    "verification_level": level,
                    "province": "jaen",
                    "verified_at": datetime.now(UTC),
                }
            ),
            aggregate_id=str(artisan_id),
        )

    async def list(self, artisan_id: UUID, **fields: Any) -> NewProductListed:
        """Publish NewProductListed; `fields` override the defaults."""
        listed = NewProductListed.model_validate(
            {
                "product_id": uuid.uuid4(),
                "artisan_id": artisan_id,
                "name": "Aceite de oliva virgen extra Picual 500 ml",
                "description": "Cosecha temprana de Sierra Mágina, prensado en frío.",
                "category": "olive_oil",
                "price": {"amount_minor": 1250, "currency": "EUR"},
                "initial_stock": 120,
                "stock_threshold": 10,
                "province": "jaen",
                "listed_at": datetime.now(UTC),
                **fields,
            }
        )
        await self.artisan.new_product_listed(listed, aggregate_id=str(listed.product_id))
        return listed

    async def search(self, **params: Any) -> dict[str, Any]:
        """GET /products; asserts a 200 and returns the page."""
        response = await self.http.get("/products", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def all_pages(self, **params: Any) -> list[str]:
        """Every product id of a search, page by page; asserts no page repeats an id."""
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.search(**params, **({"cursor": cursor} if cursor else {}))
            ids += [p["product_id"] for p in page["items"]]
            cursor = page.get("next_cursor")
            if cursor is None:
                assert len(ids) == len(set(ids)), "a product appeared on two pages"
                return ids


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The product service, started once for the module (public: no verifier needed)."""
    host = ServiceHost(
        definition(), Settings(service=NAME, nats_url=nats_url, database_url=database_url), STREAMS
    )
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    sink = NatsEventSink(nc)
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield Running(
            http,
            ProductClient(BASE, http=http),
            nc,
            ArtisanPublisher(sink),
            InventoryPublisher(sink),
            db,
        )
    finally:
        await db.close()
        await http.aclose()
        await nc.close()
        await host.stop()


async def visible(service: Running, product_id: UUID) -> dict[str, Any] | None:
    """The product's detail, or None while it is not in the catalogue."""
    response = await service.http.get(f"/products/{product_id}")
    return dict(response.json()) if response.status_code == 200 else None


async def test_a_listed_product_of_a_verified_artisan_becomes_searchable_and_announced(
    service: Running,
) -> None:
    artisan_id = uuid.uuid4()
    sub = await service.nc.jetstream().subscribe(
        PRODUCT_CATALOG_UPDATED.subject,
        stream="PRODUCT",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    await service.verify(artisan_id, "premium")
    listed = await service.list(artisan_id, name="Queso curado de oveja", category="cheese")

    product = await eventually(lambda: visible(service, listed.product_id))
    page = await service.search(q="quesos curados", artisan_id=str(artisan_id))
    announced = None
    while announced is None or announced.product_id != listed.product_id:
        announced = ProductCatalogUpdated.model_validate_json((await sub.next_msg(10)).data)
    await sub.unsubscribe()

    assert [p["product_id"] for p in page["items"]] == [str(listed.product_id)]
    assert (product["artisan_level"], product["available"]) == ("premium", 120)
    assert product["price"] == {"amount_minor": 1250, "currency": "EUR"}
    assert (announced.change, announced.available) == ("listed", 120)


async def test_products_of_an_unverified_artisan_stay_hidden_until_verification(
    service: Running,
) -> None:
    artisan_id = uuid.uuid4()
    listed = await service.list(artisan_id)
    await eventually(
        lambda: service.db.fetchval(
            "SELECT true FROM product.products WHERE product_id = $1", listed.product_id
        )
    )  # consumed into the read model, not yet visible

    hidden = await service.search(artisan_id=str(artisan_id))
    missing = await service.http.get(f"/products/{listed.product_id}")
    await service.verify(artisan_id, "master")
    shown = await eventually(lambda: visible(service, listed.product_id))

    assert hidden["items"] == []
    assert missing.status_code == 404
    assert shown["artisan_level"] == "master"


async def test_filters_and_pages_cover_each_match_exactly_once(service: Running) -> None:
    artisan_id = uuid.uuid4()
    await service.verify(artisan_id)
    base = datetime.now(UTC)
    specs = [
        ("olive_oil", "jaen", 800, "Aceite de oliva arbequina"),
        ("olive_oil", "jaen", 1250, "Aceite de oliva picual"),
        ("olive_oil", "cordoba", 1900, "Aceite ecológico hojiblanca"),
        ("ceramics", "jaen", 3500, "Plato de cerámica de Úbeda"),
        ("ceramics", "granada", 4200, "Fuente de cerámica fajalauza"),
        ("cheese", "malaga", 1600, "Queso de cabra payoyo"),
    ] * 3  # eighteen products; same timestamps for some, to test the id tie-break
    listed = [
        await service.list(
            artisan_id,
            category=c,
            province=p,
            price={"amount_minor": price, "currency": "EUR"},
            name=name,
            listed_at=base - timedelta(seconds=i // 2),
        )
        for i, (c, p, price, name) in enumerate(specs)
    ]
    mine = str(artisan_id)
    await eventually(lambda: _count(service, mine, len(listed)))

    everything = await service.all_pages(artisan_id=mine, limit=4)
    oils = await service.all_pages(artisan_id=mine, q="aceites", limit=2)
    jaen_ceramics = await service.all_pages(artisan_id=mine, category="ceramics", province="jaen")
    middle = await service.all_pages(
        artisan_id=mine, min_price_minor=1250, max_price_minor=1900, limit=5
    )

    by_id = {str(p.product_id): p for p in listed}
    assert sorted(everything) == sorted(by_id)
    newest_first = sorted(listed, key=lambda p: (p.listed_at, str(p.product_id)), reverse=True)
    assert everything == [str(p.product_id) for p in newest_first]
    assert sorted(oils) == sorted(i for i, p in by_id.items() if p.category == "olive_oil")
    assert {(by_id[i].category, by_id[i].province) for i in jaen_ceramics} == {("ceramics", "jaen")}
    assert len(jaen_ceramics) == 3
    assert sorted(middle) == sorted(
        i for i, p in by_id.items() if 1250 <= p.price.amount_minor <= 1900
    )


async def _count(service: Running, artisan_id: str, expected: int) -> bool:
    return len(await service.all_pages(artisan_id=artisan_id, limit=100)) == expected


async def test_relevance_puts_name_matches_before_description_matches(service: Running) -> None:
    artisan_id = uuid.uuid4()
    await service.verify(artisan_id)
    in_name = await service.list(artisan_id, name="Miel de romero", description="De Cazorla.")
    in_description = await service.list(
        artisan_id, name="Tarro de regalo", description="Con miel de romero de Cazorla."
    )
    mine = str(artisan_id)
    await eventually(lambda: _count(service, mine, 2))

    page = await service.search(artisan_id=mine, q="miel romero")

    assert [p["product_id"] for p in page["items"]] == [
        str(in_name.product_id),
        str(in_description.product_id),
    ]


async def test_stock_and_tier_changes_reach_the_catalogue_entry(service: Running) -> None:
    artisan_id = uuid.uuid4()
    early = datetime.now(UTC)
    unlisted_yet = uuid.uuid4()
    await service.inventory.stock_adjusted(
        StockAdjusted(
            product_id=unlisted_yet, artisan_id=artisan_id, available=7, reserved=0,
            adjusted_at=early,
        ),
        aggregate_id=str(unlisted_yet),
    )  # fmt: skip
    await service.verify(artisan_id)
    listed = await service.list(artisan_id)
    later = await service.list(artisan_id, product_id=unlisted_yet)
    await eventually(lambda: visible(service, listed.product_id))

    async def adjust(available: int, at: datetime) -> str:
        return await service.inventory.stock_adjusted(
            StockAdjusted(
                product_id=listed.product_id, artisan_id=artisan_id, available=available,
                reserved=0, adjusted_at=at,
            ),
            aggregate_id=str(listed.product_id),
        )  # fmt: skip

    await adjust(3, early + timedelta(seconds=2))
    older = await adjust(50, early + timedelta(seconds=1))  # ignored whenever it arrives
    await service.artisan.artisan_performance_evaluated(
        ArtisanPerformanceEvaluated.model_validate(
            {
                "artisan_id": artisan_id,
                "period_start": early - timedelta(days=90),
                "period_end": early + timedelta(seconds=5),
                "orders_delivered": 30,
                "average_rating": 0,
                "previous_tier": "basic",
                "tier": "premium",
                "evaluated_at": early + timedelta(seconds=5),
            }
        ),
        aggregate_id=str(artisan_id),
    )

    async def settled() -> dict[str, Any] | None:
        product = await visible(service, listed.product_id)
        ok = product and product["available"] == 3 and product["artisan_level"] == "premium"
        return product if ok else None

    await eventually(settled)
    await eventually(lambda: service.handled("on_stock_adjusted", older))
    product = await visible(service, listed.product_id)

    async def restocked() -> bool:
        entry = await visible(service, later.product_id)
        return entry is not None and entry["available"] == 7

    assert await eventually(restocked)  # the adjustment came first, whichever order it landed

    assert product is not None and product["available"] == 3


async def test_stock_is_announced_only_when_the_product_sells_out_or_comes_back(
    service: Running,
) -> None:
    artisan_id = uuid.uuid4()
    await service.verify(artisan_id)
    listed = await service.list(artisan_id, initial_stock=5)
    await eventually(lambda: visible(service, listed.product_id))
    start = datetime.now(UTC)
    shown: list[int] = []
    for seconds, available in enumerate((4, 0, 3, 2), start=1):  # one after the other
        adjusted = await service.inventory.stock_adjusted(
            StockAdjusted(
                product_id=listed.product_id, artisan_id=artisan_id, available=available,
                reserved=0, adjusted_at=start + timedelta(seconds=seconds),
            ),
            aggregate_id=str(listed.product_id),
        )  # fmt: skip
        await eventually(partial(service.handled, "on_stock_adjusted", adjusted))
        product = await visible(service, listed.product_id)
        assert product is not None
        shown.append(product["available"])

    rows = await service.db.fetch(
        "SELECT payload FROM product.events WHERE stream_id = $1 ORDER BY version",
        f"catalog-{listed.product_id}",
    )
    announced = [ProductCatalogUpdated.model_validate_json(r["payload"]) for r in rows]
    assert shown == [4, 0, 3, 2]  # search and detail keep the exact units
    assert [(a.change, a.available) for a in announced] == [
        ("listed", 5),
        ("stock_changed", 0),
        ("stock_changed", 3),
    ]


async def test_a_unit_locks_a_products_stock_once_and_keeps_the_lock_to_its_commit(
    service: Running,
) -> None:
    # A unit of work of several StockAdjusted for one product asks for its lock once.
    product_id, artisan_id, at = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    key = f"a4co.product.stock.{product_id}"
    asked: list[str] = []

    def log(record: Any) -> None:
        if "pg_advisory_xact_lock" in record.query:
            asked.append(record.query)

    catalogue = Catalogue()
    async with PostgresEventStore(service.db, NAME).transaction() as tx:
        connection = connection_of(tx)
        connection.add_query_logger(log)
        try:
            for n in range(3):
                at_n = at + timedelta(seconds=n)
                await catalogue.adjust_stock(tx, product_id, artisan_id, 5 - n, at_n, None)
        finally:
            connection.remove_query_logger(log)
        async with service.db.acquire() as other:  # still held by the open transaction
            assert (
                await other.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", key) is False
            )
    assert len(asked) == 1
    stored = await service.db.fetchval(
        "SELECT available FROM product.stock WHERE product_id = $1", product_id
    )
    assert stored == 3


async def test_bad_searches_are_problems(service: Running) -> None:
    first = await service.search(limit=1)
    reversed_prices = await service.http.get(
        "/products", params={"min_price_minor": 500, "max_price_minor": 100}
    )
    foreign = await service.http.get("/products", params={"cursor": "definitely-not-ours"})
    other_filters = await service.http.get(
        "/products", params={"cursor": first.get("next_cursor") or "x", "category": "wine"}
    )
    unknown = await service.http.get(f"/products/{uuid.uuid4()}")
    huge = await service.http.get("/products", params={"max_price_minor": 10**40, "limit": 1})

    assert reversed_prices.status_code == 422
    assert reversed_prices.headers["content-type"].startswith("application/problem+json")
    assert foreign.status_code == 400
    assert other_filters.status_code == 400
    assert unknown.status_code == 404
    assert json.loads(unknown.text)["status"] == 404
    # A price bound is a price: at most a million euros (the contract's maximum), not a 500.
    assert huge.status_code == 422, huge.text
    assert "max_price_minor" in huge.json()["detail"]
