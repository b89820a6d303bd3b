"""The recommendation service in-process on the session's real NATS and PostgreSQL.

Products and behaviour arrive as their senders publish them (the artisan's and the user's
generated publishers on the bus). Every test uses fresh users and products; the catalogue
is shared with the rest of the session, so tests only assert about their own products.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client

from generated.artisan.events import Publisher as ArtisanPublisher
from generated.artisan.models import Money, NewProductListed
from generated.platform import STREAMS
from generated.product.events import Publisher as ProductPublisher
from generated.product.models import ProductCatalogUpdated
from generated.recommendation.models import RecommendationList
from generated.user.events import Publisher as UserPublisher
from generated.user.models import UserBehaviorTracked, UserSegmentChanged
from runtime.bus.nats_publisher import NatsEventSink
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.recommendation.service import NAME, definition
from tests.e2e.harness import eventually

BASE = "http://recommendation.test"


@dataclass
class Running:
    """The running service, its token key, and the test's own connections."""

    host: ServiceHost
    http: httpx.AsyncClient
    key: SigningKey
    nc: Client
    db: Any

    @property
    def artisans(self) -> ArtisanPublisher:
        """Publishes as the artisan service does."""
        return ArtisanPublisher(NatsEventSink(self.nc))

    @property
    def catalogue(self) -> ProductPublisher:
        """Publishes as the product service does."""
        return ProductPublisher(NatsEventSink(self.nc))

    @property
    def users(self) -> UserPublisher:
        """Publishes as the user service does."""
        return UserPublisher(NatsEventSink(self.nc))

    def bearer(self, subject: UUID, role: str = "customer") -> dict[str, str]:
        """The Authorization header of a `role` user `subject`."""
        return {"Authorization": f"Bearer {self.key.issue(subject, roles=[role])}"}

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether the service's inbox holds `message_id` for `consumer`."""
        return bool(
            await self.db.fetchval(
                f'SELECT EXISTS (SELECT 1 FROM "{NAME}".inbox'
                " WHERE consumer = $1 AND message_id = $2)",
                f"{NAME}.{consumer}",
                message_id,
            )
        )

    async def recommendations(self, user_id: UUID, limit: int = 10) -> RecommendationList:
        """GET the user's recommendations as the user."""
        response = await self.http.get(
            f"/recommendations/{user_id}", params={"limit": limit}, headers=self.bearer(user_id)
        )
        assert response.status_code == 200, response.text
        return RecommendationList.model_validate(response.json())


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The recommendation service, started once for the module, with test-signed tokens."""
    key = SigningKey.generate()
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=key)
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    db = await asyncpg.connect(database_url)
    try:
        yield Running(host, http, key, nc, db)
    finally:
        await db.close()
        await http.aclose()
        await nc.close()
        await host.stop()


async def list_product(
    service: Running, category: str, *, minutes_ago: int = 0, shown: bool = True
) -> UUID:
    """Publish a NewProductListed of `category` and, when `shown`, the product service's
    announcement that it lists it; wait until the service has them."""
    product_id, artisan_id = uuid.uuid4(), uuid.uuid4()
    message_id = await service.artisans.new_product_listed(
        NewProductListed.model_validate(
            {
                "product_id": product_id,
                "artisan_id": artisan_id,
                "name": f"Producto {product_id.hex[:6]}",
                "description": "Hecho a mano en Jaén.",
                "category": category,
                "price": Money(amount_minor=1850, currency="EUR"),
                "initial_stock": 20,
                "stock_threshold": 3,
                "province": "jaen",
                "listed_at": datetime.now(UTC) - timedelta(minutes=minutes_ago),
            }
        ),
        aggregate_id=str(product_id),
    )
    await eventually(lambda: service.handled("on_new_product_listed", message_id))
    if shown:
        announced = await service.catalogue.product_catalog_updated(
            ProductCatalogUpdated.model_validate(
                {
                    "product_id": product_id,
                    "artisan_id": artisan_id,
                    "change": "listed",
                    "available": 20,
                    "updated_at": datetime.now(UTC),
                }
            ),
            aggregate_id=str(product_id),
        )
        await eventually(lambda: service.handled("on_product_catalog_updated", announced))
    return product_id


async def act(
    service: Running, user_id: UUID, action: str, product_id: UUID, category: str
) -> None:
    """Publish the user's action; wait until the service has applied it."""
    event = UserBehaviorTracked.model_validate(
        {
            "user_id": user_id,
            "action": action,
            "product_id": product_id,
            "category": category,
            "tracked_at": datetime.now(UTC),
        }
    )
    message_id = await service.users.user_behavior_tracked(event, aggregate_id=str(user_id))
    await eventually(lambda: service.handled("on_user_behavior_tracked", message_id))


def ids(answer: RecommendationList) -> list[UUID]:
    """The recommended products, in order."""
    return [item.product_id for item in answer.items]


async def test_a_viewed_category_is_recommended_among_newer_products(service: Running) -> None:
    user_id = uuid.uuid4()
    await list_product(service, "cheese", minutes_ago=60 * 24 * 30)  # an old one
    for _ in range(4):
        await list_product(service, "wine")

    await act(service, user_id, "viewed_product", uuid.uuid4(), "cheese")
    answer = await service.recommendations(user_id, limit=3)

    assert answer.user_id == user_id
    assert len(answer.items) == 3
    # Other tests of the session list cheeses too, so which cheese ranks first is not this
    # test's to say; that the viewed category is recommended for that reason is.
    categories = dict(
        await service.db.fetch(
            f'SELECT product_id, category FROM "{NAME}".catalogue WHERE product_id = ANY($1)',
            ids(answer),
        )
    )
    cheeses = [i for i in answer.items if categories.get(i.product_id) == "cheese"]
    assert cheeses, f"no cheese among {answer.items}"
    assert {i.reason for i in cheeses} == {"behavior"}
    assert [i.score_bp for i in answer.items] == sorted(
        (i.score_bp for i in answer.items), reverse=True
    )


async def test_a_bought_product_is_not_recommended_but_its_category_is(
    service: Running,
) -> None:
    user_id = uuid.uuid4()
    bought = await list_product(service, "olive_oil")
    other = await list_product(service, "olive_oil", minutes_ago=5)

    await act(service, user_id, "viewed_product", bought, "olive_oil")
    before = ids(await service.recommendations(user_id, limit=50))
    await act(service, user_id, "purchased", bought, "olive_oil")
    after = ids(await service.recommendations(user_id, limit=50))

    assert bought in before
    assert bought not in after
    assert other in after


async def test_the_segment_lifts_its_category_for_a_user_without_history(
    service: Running,
) -> None:
    user_id = uuid.uuid4()
    ceramics = await list_product(service, "ceramics", minutes_ago=60 * 24 * 365)
    change = UserSegmentChanged(
        user_id=user_id,
        from_segment="new",
        to_segment="ceramics_collector",
        reason="3 actions on ceramics products.",
        changed_at=datetime.now(UTC),
    )

    before = ids(await service.recommendations(user_id, limit=50))
    message_id = await service.users.user_segment_changed(change, aggregate_id=str(user_id))
    await eventually(lambda: service.handled("on_user_segment_changed", message_id))
    after = await service.recommendations(user_id, limit=50)

    assert ids(after).index(ceramics) < (before.index(ceramics) if ceramics in before else 50)
    (item,) = [i for i in after.items if i.product_id == ceramics]
    assert item.reason == "segment"


async def test_a_product_the_catalogue_does_not_show_is_not_recommended(
    service: Running,
) -> None:
    # NewProductListed comes from the artisan service as soon as a product is listed; the
    # product service shows (and announces) it only once its artisan is verified.
    user_id = uuid.uuid4()
    hidden = await list_product(service, "textiles", shown=False)
    shown = await list_product(service, "textiles")

    await act(service, user_id, "viewed_product", uuid.uuid4(), "textiles")
    answer = ids(await service.recommendations(user_id, limit=50))

    assert shown in answer
    assert hidden not in answer


async def test_only_the_user_or_an_admin_reads_their_recommendations(service: Running) -> None:
    user_id = uuid.uuid4()
    path = f"/recommendations/{user_id}"

    as_owner = await service.http.get(path, headers=service.bearer(user_id))
    as_other = await service.http.get(path, headers=service.bearer(uuid.uuid4()))
    as_admin = await service.http.get(path, headers=service.bearer(uuid.uuid4(), "admin"))
    anonymous = await service.http.get(path)

    assert as_owner.status_code == 200
    assert as_other.status_code == 403
    assert as_admin.status_code == 200
    assert anonymous.status_code == 401
