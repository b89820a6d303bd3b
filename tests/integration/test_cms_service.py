"""The cms service in-process on the session's real NATS and PostgreSQL.

Every test publishes pages under its own slugs: the `cms` schema and the CMS stream are
shared with the rest of the session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from generated.cms.events import PAGE_PUBLISHED
from generated.platform import STREAMS
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.cms.pages import PageTables
from services.cms.service import NAME, definition
from tests.e2e.harness import eventually

BASE = "http://cms.test"
KEY = SigningKey.generate()
ADMIN = {"Authorization": f"Bearer {KEY.issue(uuid.uuid4(), ['admin'], lifetime=86_400)}"}


@dataclass
class Running:
    """The running service, an HTTP client on its app, and a NATS connection of the test."""

    host: ServiceHost
    http: httpx.AsyncClient
    nc: Client


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The cms service, started once for the module."""
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(), settings, STREAMS, verifier=KEY)
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    nc = await nats.connect(nats_url)
    try:
        yield Running(host, http, nc)
    finally:
        await http.aclose()
        await nc.close()
        await host.stop()


def a_slug() -> str:
    """A slug no other test uses."""
    return f"guia-{uuid.uuid4().hex[:10]}"


def guide(**fields: Any) -> dict[str, Any]:
    """A page body; `fields` override."""
    return {
        "title": "Guía del aceite de oliva virgen extra de Jaén",
        "locale": "es",
        "body": "# El aceite de Jaén\n\nJaén produce cerca de la mitad del aceite de España.",
        **fields,
    }


async def announced(sub: Any, slug: str, count: int) -> list[Msg]:
    """The first `count` PagePublished messages of `slug` seen by `sub`."""
    found: list[Msg] = []

    async def enough() -> bool:
        try:
            msg = await sub.next_msg(timeout=0.2)
        except TimeoutError:
            return len(found) >= count
        if json.loads(msg.data)["slug"] == slug:
            found.append(msg)
        return len(found) >= count

    await eventually(enough)
    return found


async def test_published_page_is_public_and_announced_on_the_stream(service: Running) -> None:
    sub = await service.nc.jetstream().subscribe(
        PAGE_PUBLISHED.subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    slug = a_slug()
    published = await service.http.put(f"/pages/{slug}", json=guide(), headers=ADMIN)
    assert published.status_code == 200, published.text
    page = published.json()
    assert (page["slug"], page["published_at"]) == (slug, page["updated_at"])

    read = await service.http.get(f"/pages/{slug}")
    assert read.status_code == 200 and read.json() == page
    listed = await service.http.get("/pages", params={"locale": "es", "limit": 100})
    assert slug in [p["slug"] for p in listed.json()["items"]]

    [msg] = await announced(sub, slug, 1)
    await sub.unsubscribe()
    headers = msg.headers or {}
    assert headers["ce-type"] == "a4co.cms.page_published.v1"
    assert headers["ce-subject"] == page["page_id"]
    assert json.loads(msg.data) == {
        "page_id": page["page_id"],
        "slug": slug,
        "title": page["title"],
        "locale": "es",
        "published_at": json.loads(msg.data)["published_at"],
    }


async def test_republishing_stores_a_new_version_of_the_same_page(service: Running) -> None:
    sub = await service.nc.jetstream().subscribe(
        PAGE_PUBLISHED.subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    slug = a_slug()
    first = (await service.http.put(f"/pages/{slug}", json=guide(), headers=ADMIN)).json()
    same = (await service.http.put(f"/pages/{slug}", json=guide(), headers=ADMIN)).json()
    edited = (
        await service.http.put(
            f"/pages/{slug}", json=guide(title="Jaén, tierra de olivos"), headers=ADMIN
        )
    ).json()

    assert first["page_id"] == same["page_id"] == edited["page_id"]
    assert same["updated_at"] == first["updated_at"] < same["published_at"]
    assert edited["updated_at"] == edited["published_at"] > first["updated_at"]
    assert (await service.http.get(f"/pages/{slug}")).json()["title"] == "Jaén, tierra de olivos"
    assert service.host.context is not None
    async with service.host.context.transaction() as tx:
        assert await PageTables(NAME).versions(tx, UUID(first["page_id"])) == 3
    msgs = await announced(sub, slug, 3)
    await sub.unsubscribe()
    assert {json.loads(m.data)["page_id"] for m in msgs} == {first["page_id"]}


async def test_only_admins_publish_pages(service: Running) -> None:
    slug = a_slug()
    customer = {"Authorization": f"Bearer {KEY.issue(uuid.uuid4(), ['customer'])}"}
    as_customer = await service.http.put(f"/pages/{slug}", json=guide(), headers=customer)
    anonymous = await service.http.put(f"/pages/{slug}", json=guide())
    assert (as_customer.status_code, anonymous.status_code) == (403, 401)
    assert (await service.http.get(f"/pages/{slug}")).status_code == 404


async def test_pages_are_listed_newest_first_a_page_at_a_time(service: Running) -> None:
    slugs = [a_slug() for _ in range(3)]
    for slug in slugs:
        response = await service.http.put(f"/pages/{slug}", json=guide(locale="en"), headers=ADMIN)
        assert response.status_code == 200
    first = (await service.http.get("/pages", params={"locale": "en", "limit": 2})).json()
    assert [p["slug"] for p in first["items"]] == [slugs[2], slugs[1]]
    second = (
        await service.http.get(
            "/pages", params={"locale": "en", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert second["items"][0]["slug"] == slugs[0]
    assert all(p["locale"] == "en" for p in first["items"] + second["items"])


async def test_a_cursor_this_api_never_gave_is_a_bad_request(service: Running) -> None:
    response = await service.http.get("/pages", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
