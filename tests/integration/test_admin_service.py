"""The admin service in-process on the session's real NATS and PostgreSQL.

The artisan service it reads is played by the artisan contract's own generated router over
real HTTP, answering from a list the test controls. Dead letters are written with the
runtime's own `dead_letter`, and also made the real way: a malformed message that the chat
service's consumer gives up on.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from generated.artisan.api import build_router as artisan_router
from generated.artisan.models import Artisan, ArtisanPage
from generated.chat.events import USER_PROFILE_UPDATED
from generated.platform import STREAMS
from runtime.bus.dlq import dead_letter
from runtime.bus.envelope import build_headers
from runtime.http.app import create_app
from runtime.http.auth import Principal, SigningKey
from runtime.service import ServiceHost, Settings
from services.admin.service import NAME, definition
from services.chat.service import definition as chat_definition
from tests.e2e.harness import eventually, free_port, serve_asgi

BASE = "http://admin.test"
KEY = SigningKey.generate()
ADMIN_ID = uuid.uuid4()
ADMIN = {"Authorization": f"Bearer {KEY.issue(ADMIN_ID, ['admin'], lifetime=86_400)}"}
APPLIED = datetime(2026, 11, 26, 16, 40, tzinfo=UTC)


@dataclass
class FakeArtisans:
    """Answers the artisan contract's listArtisans from `artisans`; remembers who asked."""

    artisans: list[Artisan] = field(default_factory=list)
    asked: list[tuple[Principal, dict[str, Any]]] = field(default_factory=list)

    async def list_artisans(self, principal: Principal, **query: Any) -> ArtisanPage:
        """The artisans in the asked status and province, oldest application first."""
        self.asked.append((principal, query))
        found = [
            a
            for a in self.artisans
            if a.status == query["status"] and query["province"] in (None, a.province)
        ]
        return ArtisanPage(items=sorted(found, key=lambda a: a.applied_at)[: query["limit"]])


@dataclass
class Running:
    """The admin service, its HTTP client, the fake artisan service and a NATS connection."""

    host: ServiceHost
    http: httpx.AsyncClient
    artisans: FakeArtisans
    nc: Client


@contextlib.asynccontextmanager
async def admin_host(
    nats_url: str, database_url: str, artisan_url: str
) -> AsyncIterator[tuple[ServiceHost, httpx.AsyncClient]]:
    """An admin host reading artisans at `artisan_url`, and a client of its app."""
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(artisan_url=artisan_url), settings, STREAMS, verifier=KEY)
    app = await host.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    try:
        yield host, http
    finally:
        await http.aclose()
        await host.stop()


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The admin service and the fake artisan service, started once for the module."""
    fake = FakeArtisans()
    artisan_app = create_app("artisan", [artisan_router(fake)], verifier=KEY)  # type: ignore[arg-type]
    async with (
        serve_asgi(artisan_app) as artisan_url,
        admin_host(nats_url, database_url, artisan_url) as (host, http),
    ):
        nc = await nats.connect(nats_url)
        try:
            yield Running(host, http, fake, nc)
        finally:
            await nc.close()


def artisan(status: str, province: str = "jaen", minute: int = 0) -> Artisan:
    """An artisan of the artisan service."""
    return Artisan(
        artisan_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        business_name="Almazara Sierra Mágina",
        description="Family olive mill in Bedmar since 1952.",
        province=province,  # type: ignore[arg-type]
        categories=["olive_oil"],
        status=status,  # type: ignore[arg-type]
        applied_at=APPLIED.replace(minute=minute),
        updated_at=APPLIED,
    )


async def test_the_queue_lists_pending_artisans_asked_with_the_admins_token(
    service: Running,
) -> None:
    older, newer = artisan("pending", minute=1), artisan("pending", minute=2)
    elsewhere, active = artisan("pending", province="granada"), artisan("active")
    service.artisans.artisans[:] = [newer, active, elsewhere, older]
    response = await service.http.get(
        "/verification-queue", params={"province": "jaen"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["artisan_id"] for i in items] == [str(older.artisan_id), str(newer.artisan_id)]
    assert items[0]["display_name"] == "Almazara Sierra Mágina"
    principal, query = service.artisans.asked[-1]
    assert (principal.subject, principal.roles) == (ADMIN_ID, frozenset({"admin"}))
    assert (query["status"], query["province"]) == ("pending", "jaen")


async def test_the_queue_is_unavailable_while_the_artisan_service_is_down(
    nats_url: str, database_url: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    async with admin_host(nats_url, database_url, nobody) as (_host, http):
        response = await http.get("/verification-queue", headers=ADMIN)
    assert response.status_code == 503
    assert response.json()["title"] == "Service Unavailable"


async def test_only_admins_use_the_back_office(service: Running) -> None:
    for roles in (["customer"], ["artisan"]):
        headers = {"Authorization": f"Bearer {KEY.issue(uuid.uuid4(), roles)}"}
        answers = [
            await service.http.get("/verification-queue", headers=headers),
            await service.http.get("/dlq", headers=headers),
            await service.http.post("/dlq/1/redrive", headers=headers),
        ]
        assert [a.status_code for a in answers] == [403, 403, 403]
    assert (await service.http.get("/dlq")).status_code == 401


async def bury(service: Running, durable: str, subject: str, sequence: int) -> dict[str, str]:
    """Dead-letter a message of `subject` for consumer `durable` of a made-up service."""
    headers = {"ce-id": str(uuid.uuid4()), "ce-type": "a4co.cms.admin_probe.v1"}
    await dead_letter(
        service.nc.jetstream(),
        service=durable.split("_")[0],
        durable=durable,
        stream="CMS",
        message=(subject, sequence, json.dumps({"n": sequence}).encode(), headers),
        error="PermanentError: the probe never passes",
        attempts=3,
    )
    return headers


async def test_dead_letters_are_listed_newest_first_and_redriven_once(service: Running) -> None:
    probe = f"p{uuid.uuid4().hex[:10]}"
    subject = f"cms.admin_probe_{probe}.v1"
    durable = f"{probe}_on_admin_probe"
    await bury(service, durable, subject, 41)
    headers = await bury(service, durable, subject, 42)

    listed = await service.http.get("/dlq", params={"service": probe}, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["consumer"] for i in items] == [durable, durable]
    assert items[0]["stream_sequence"] > items[1]["stream_sequence"]
    newest = items[0]
    assert (newest["original_subject"], newest["attempts"]) == (subject, 3)
    assert newest["error"] == "PermanentError: the probe never passes"

    sub = await service.nc.jetstream().subscribe(
        subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    path = f"/dlq/{newest['stream_sequence']}/redrive"
    redriven = await service.http.post(path, headers=ADMIN)
    assert redriven.status_code == 202, redriven.text
    assert redriven.json()["original_subject"] == subject
    msg = await sub.next_msg(timeout=10)
    await sub.unsubscribe()
    assert json.loads(msg.data) == {"n": 42}
    assert (msg.headers or {})["ce-id"] == headers["ce-id"]

    left = await service.http.get("/dlq", params={"service": probe}, headers=ADMIN)
    assert [i["stream_sequence"] for i in left.json()["items"]] == [items[1]["stream_sequence"]]
    again = await service.http.post(path, headers=ADMIN)
    assert again.status_code == 409
    unknown = await service.http.post("/dlq/999999999/redrive", headers=ADMIN)
    assert unknown.status_code == 404


@pytest.mark.parametrize("sequence", [2**63, 2**64, 15960925683785462664134656])
async def test_a_sequence_beyond_int64_is_a_422_naming_it_not_a_500(
    service: Running, sequence: int
) -> None:
    """The contract says `format: int64`, which the generated route enforces."""
    refused = await service.http.post(f"/dlq/{sequence}/redrive", headers=ADMIN)

    assert refused.status_code == 422, refused.text
    assert "stream_sequence" in refused.json()["detail"]


async def test_the_largest_int64_sequence_is_merely_unknown(service: Running) -> None:
    unknown = await service.http.post(f"/dlq/{2**63 - 1}/redrive", headers=ADMIN)

    assert unknown.status_code == 404, unknown.text


async def test_a_malformed_message_given_up_by_its_consumer_is_redriven_to_it(
    service: Running,
) -> None:
    settings = Settings(
        service="chat",
        nats_url=service.host.settings.nats_url,
        database_url=service.host.settings.database_url,
    )
    chat = ServiceHost(
        chat_definition(user_url="http://127.0.0.1:9"), settings, STREAMS, verifier=KEY
    )
    await chat.start()
    try:
        js = service.nc.jetstream()
        user_id = str(uuid.uuid4())
        headers = build_headers(USER_PROFILE_UPDATED, aggregate_id=user_id)
        await js.publish(
            USER_PROFILE_UPDATED.subject,
            json.dumps({"user_id": user_id, "full_name": ""}).encode(),
            headers=headers,
        )

        async def letters_of_chat() -> list[dict[str, Any]]:
            response = await service.http.get("/dlq", params={"service": "chat"}, headers=ADMIN)
            return [
                i
                for i in response.json()["items"]
                if i["consumer"] == "chat_on_user_profile_updated"
            ]

        async def buried() -> list[dict[str, Any]]:
            return [
                i for i in await letters_of_chat() if user_id in (await _payload(js, i)).decode()
            ]

        [letter] = await eventually(buried)
        assert letter["original_subject"] == USER_PROFILE_UPDATED.subject
        redriven = await service.http.post(
            f"/dlq/{letter['stream_sequence']}/redrive", headers=ADMIN
        )
        assert redriven.status_code == 202

        async def buried_again() -> bool:
            found = await buried()
            return bool(found) and found[0]["stream_sequence"] > letter["stream_sequence"]

        await eventually(buried_again)
    finally:
        await chat.stop()


async def _payload(js: Any, letter: dict[str, Any]) -> bytes:
    """The stored payload of a dead letter (to tell this test's letter from others)."""
    raw = await js.get_msg("DLQ", seq=letter["stream_sequence"])
    data: bytes = raw.data or b""
    return data


async def test_the_dead_letter_gauge_counts_each_consumers_letters_until_redriven(
    service: Running,
) -> None:
    probe = f"p{uuid.uuid4().hex[:10]}"
    subject = f"cms.admin_probe_{probe}.v1"
    durable = f"{probe}_on_admin_probe"
    series = f'a4co_dead_letters{{durable="{durable}",service="{probe}"}}'
    await bury(service, durable, subject, 1)
    await bury(service, durable, subject, 2)

    async def gauge() -> str | None:
        text = (await service.http.get("/metrics")).text
        return next((line for line in text.splitlines() if line.startswith(series)), None)

    assert await eventually(lambda: _equals(gauge, f"{series} 2.0"), timeout=30)
    listed = await service.http.get("/dlq", params={"service": probe}, headers=ADMIN)
    for item in listed.json()["items"]:
        redriven = await service.http.post(f"/dlq/{item['stream_sequence']}/redrive", headers=ADMIN)
        assert redriven.status_code == 202, redriven.text
    assert await eventually(lambda: _equals(gauge, f"{series} 0.0"), timeout=30)


async def _equals(read: Any, expected: str) -> bool:
    return bool(await read() == expected)


async def test_a_dead_letter_on_a_subject_without_a_durable_does_not_stop_the_gauge(
    service: Running,
) -> None:
    """`dlq.>` also captures `dlq.<one token>`, which only an operator could publish: the
    gauge counts it under an empty durable and goes on counting the well-formed letters."""
    forged = f"f{uuid.uuid4().hex[:10]}"
    await service.nc.jetstream().publish(f"dlq.{forged}", b"\x00forged")
    probe = f"p{uuid.uuid4().hex[:10]}"
    durable = f"{probe}_on_admin_probe"
    await bury(service, durable, f"cms.admin_probe_{probe}.v1", 1)
    series = f'a4co_dead_letters{{durable="{durable}",service="{probe}"}}'
    odd = f'a4co_dead_letters{{durable="",service="{forged}"}}'

    async def counted() -> bool:
        lines = (await service.http.get("/metrics")).text.splitlines()
        return f"{series} 1.0" in lines and f"{odd} 1.0" in lines

    assert await eventually(counted, timeout=30)
