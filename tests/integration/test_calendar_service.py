"""The calendar service in-process on the session's real NATS and PostgreSQL.

One host serves the module; every test publishes its own events and uses fresh users, since
the `calendar` schema and the CALENDAR stream are shared with the rest of the session.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from generated.calendar.events import BOOKING_CONFIRMED, LOCAL_EVENT_PUBLISHED
from generated.platform import STREAMS
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.calendar.service import NAME, definition
from services.calendar.tables import CalendarTables
from tests.e2e.harness import eventually

BASE = "http://calendar.test"
KEY = SigningKey.generate()


@dataclass
class Running:
    """The running service, an HTTP client on its app, and a NATS connection of the test."""

    host: ServiceHost
    http: httpx.AsyncClient
    nc: Client


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The calendar service, started once for the module."""
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


def bearer(user_id: UUID, *roles: str) -> dict[str, str]:
    """Headers of a caller with these roles."""
    return {"Authorization": f"Bearer {KEY.issue(user_id, roles)}"}


def tasting(capacity: int = 30, **fields: Any) -> dict[str, Any]:
    """A tasting two weeks from now; `fields` override."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)
    return {
        "title": "Cata de aceites de cosecha temprana",
        "kind": "tasting",
        "province": "jaen",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "capacity": capacity,
        **fields,
    }


async def publish(service: Running, capacity: int = 30, **fields: Any) -> dict[str, Any]:
    """Publish an event as an artisan; return its body."""
    response = await service.http.post(
        "/events", json=tasting(capacity, **fields), headers=bearer(uuid.uuid4(), "artisan")
    )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def collect(sub: Any, key: str, value: str, count: int) -> list[Msg]:
    """Messages of `sub` whose payload has `key` == `value`, until `count` arrived."""
    found: list[Msg] = []

    async def enough() -> bool:
        try:
            msg = await sub.next_msg(timeout=0.2)
        except TimeoutError:
            return len(found) >= count
        if json.loads(msg.data).get(key) == value:
            found.append(msg)
        return len(found) >= count

    await eventually(enough)
    return found


async def test_published_event_is_readable_by_anyone_listed_and_announced(
    service: Running,
) -> None:
    js = service.nc.jetstream()
    sub = await js.subscribe(
        LOCAL_EVENT_PUBLISHED.subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    event = await publish(service, capacity=30, province="cordoba")
    assert event["seats_left"] == 30

    read = await service.http.get(f"/events/{event['event_id']}")
    assert read.status_code == 200 and read.json() == event
    listed = await service.http.get("/events", params={"province": "cordoba", "limit": 100})
    assert event["event_id"] in [e["event_id"] for e in listed.json()["items"]]

    [msg] = await collect(sub, "event_id", event["event_id"], 1)
    await sub.unsubscribe()
    assert (msg.headers or {})["ce-subject"] == event["event_id"]
    assert json.loads(msg.data)["capacity"] == 30


async def test_events_are_listed_soonest_first_within_the_interval(service: Running) -> None:
    # A window of this test's own: the session's database holds other tests' and the fuzzers'
    # events, which a shared window would list before these.
    offset = timedelta(minutes=uuid.uuid4().int % 500_000)
    base = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=400) + offset
    later = await publish(
        service,
        starts_at=(base + timedelta(days=2)).isoformat(),
        ends_at=(base + timedelta(days=2, hours=2)).isoformat(),
    )
    sooner = await publish(
        service, starts_at=base.isoformat(), ends_at=(base + timedelta(hours=2)).isoformat()
    )
    window = {"from": base.isoformat(), "to": (base + timedelta(days=3)).isoformat()}
    listed = await service.http.get("/events", params={**window, "limit": 100})
    ids = [e["event_id"] for e in listed.json()["items"]]
    assert ids.index(sooner["event_id"]) < ids.index(later["event_id"])
    narrow = {"from": base.isoformat(), "to": (base + timedelta(days=1)).isoformat()}
    ids = [
        e["event_id"]
        for e in (await service.http.get("/events", params={**narrow, "limit": 100})).json()[
            "items"
        ]
    ]
    assert sooner["event_id"] in ids and later["event_id"] not in ids


async def test_customers_cannot_publish_events_and_strangers_need_a_token(
    service: Running,
) -> None:
    as_customer = await service.http.post(
        "/events", json=tasting(), headers=bearer(uuid.uuid4(), "customer")
    )
    anonymous = await service.http.post("/events", json=tasting())
    assert (as_customer.status_code, anonymous.status_code) == (403, 401)


async def test_an_event_ending_before_it_starts_is_unprocessable(service: Running) -> None:
    body = tasting()
    body["ends_at"] = body["starts_at"]
    response = await service.http.post("/events", json=body, headers=bearer(uuid.uuid4(), "admin"))
    assert response.status_code == 422
    assert "ends_at" in response.json()["detail"]


async def test_ten_concurrent_bookings_of_three_seats_confirm_exactly_three(
    service: Running,
) -> None:
    js = service.nc.jetstream()
    sub = await js.subscribe(
        BOOKING_CONFIRMED.subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    event = await publish(service, capacity=3)
    users = [uuid.uuid4() for _ in range(10)]

    async def book(user: UUID) -> httpx.Response:
        return await service.http.post(
            f"/events/{event['event_id']}/bookings",
            json={"user_id": str(user), "seats": 1},
            headers=bearer(user, "customer"),
        )

    responses = await asyncio.gather(*(book(u) for u in users))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 7
    read = await service.http.get(f"/events/{event['event_id']}")
    assert read.json()["seats_left"] == 0

    confirmed = {r.json()["booking_id"] for r in responses if r.status_code == 201}
    msgs = await collect(sub, "event_id", event["event_id"], 3)
    await sub.unsubscribe()
    assert {json.loads(m.data)["booking_id"] for m in msgs} == confirmed
    assert service.host.context is not None
    async with service.host.context.transaction() as tx:
        assert await CalendarTables(NAME).seats_booked(tx, UUID(event["event_id"])) == 3


async def test_more_seats_than_left_is_a_conflict_and_an_unknown_event_not_found(
    service: Running,
) -> None:
    event = await publish(service, capacity=2)
    user = uuid.uuid4()
    too_many = await service.http.post(
        f"/events/{event['event_id']}/bookings",
        json={"user_id": str(user), "seats": 3},
        headers=bearer(user, "customer"),
    )
    unknown = await service.http.post(
        f"/events/{uuid.uuid4()}/bookings",
        json={"user_id": str(user), "seats": 1},
        headers=bearer(user, "customer"),
    )
    assert (too_many.status_code, unknown.status_code) == (409, 404)
    assert "2 left" in too_many.json()["detail"]


async def test_a_booking_is_read_by_its_owner_or_an_admin_only(service: Running) -> None:
    event = await publish(service)
    owner = uuid.uuid4()
    booked = await service.http.post(
        f"/events/{event['event_id']}/bookings",
        json={"user_id": str(owner), "seats": 2},
        headers=bearer(owner, "customer"),
    )
    assert booked.status_code == 201
    path = f"/bookings/{booked.json()['booking_id']}"
    as_owner = await service.http.get(path, headers=bearer(owner, "customer"))
    as_admin = await service.http.get(path, headers=bearer(uuid.uuid4(), "admin"))
    as_stranger = await service.http.get(path, headers=bearer(uuid.uuid4(), "customer"))
    assert (as_owner.status_code, as_admin.status_code, as_stranger.status_code) == (200, 200, 403)
    assert as_owner.json() == booked.json()
    missing = await service.http.get(f"/bookings/{uuid.uuid4()}", headers=bearer(owner, "admin"))
    assert missing.status_code == 404


async def test_booking_for_another_user_is_forbidden(service: Running) -> None:
    event = await publish(service)
    response = await service.http.post(
        f"/events/{event['event_id']}/bookings",
        json={"user_id": str(uuid.uuid4()), "seats": 1},
        headers=bearer(uuid.uuid4(), "customer"),
    )
    assert response.status_code == 403
    read = await service.http.get(f"/events/{event['event_id']}")
    assert read.json()["seats_left"] == 30
