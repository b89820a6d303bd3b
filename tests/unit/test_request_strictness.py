"""Generated routers read requests as their contracts type them, not as pydantic's lax mode.

JSON Schema's `boolean` is `true`/`false` only and `date-time` an RFC 3339 string; lax
pydantic reads `"true"` or `1` as a boolean and `0` or `"0.5"` as a Unix time (no I/O).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from generated.admin.api import build_router as admin_router
from generated.admin.models import AdminRedrive
from generated.calendar.api import build_router as calendar_router
from generated.calendar.models import LocalEvent, LocalEventList, PublishLocalEventRequest
from generated.inventory.models import StockAdjusted
from generated.user.api import build_router as user_router
from generated.user.models import UserPreferences
from runtime.http import create_app
from runtime.http.auth import Principal, SigningKey

KEY = SigningKey.generate("unit-strict")
EVENT = {
    "title": "Cata de aceites",
    "kind": "tasting",
    "province": "jaen",
    "starts_at": "2026-12-12T18:00:00Z",
    "ends_at": "2026-12-12T20:00:00Z",
    "capacity": 30,
}
PREFERENCES = {
    "favourite_categories": ["olive_oil"],
    "language": "es",
    "email_notifications": True,
    "push_notifications": False,
}


class CalendarStub:
    """Answers every calendar call with a fixed event; only the routers' validation matters."""

    async def list_local_events(self, **query: Any) -> LocalEventList:
        return LocalEventList(items=[])

    async def publish_local_event(
        self, principal: Principal, body: PublishLocalEventRequest
    ) -> LocalEvent:
        now = datetime.now(UTC)
        return LocalEvent(
            event_id=uuid.uuid4(), **body.model_dump(), seats_left=body.capacity, published_at=now
        )


class UserStub:
    """Echoes preferences back."""

    async def replace_preferences(
        self, principal: Principal, user_id: UUID, body: UserPreferences
    ) -> UserPreferences:
        return body


class AdminStub:
    """Redrives any dead letter it is asked for."""

    async def redrive_dead_letter(self, principal: Principal, stream_sequence: int) -> AdminRedrive:
        return AdminRedrive(
            stream_sequence=stream_sequence,
            original_subject="order.created.v1",
            redriven_at=datetime.now(UTC),
        )


@pytest.fixture
async def http() -> Any:
    stubs = [calendar_router(CalendarStub()), user_router(UserStub())]  # type: ignore[arg-type]
    routers = [*stubs, admin_router(AdminStub())]  # type: ignore[arg-type]
    app = create_app("strict", routers, verifier=KEY)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {KEY.issue(uuid.uuid4(), ['admin'])}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield c


@pytest.mark.parametrize("sent", [0, 1765562400, "0.5", "123", "2026-12-12", "2026-12-12T18:00:00"])
async def test_a_body_date_time_not_sent_as_an_rfc3339_string_is_refused(
    http: httpx.AsyncClient, sent: Any
) -> None:
    response = await http.post("/events", json={**EVENT, "starts_at": sent})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("body.starts_at:")


@pytest.mark.parametrize("sent", ["0.5", "0", "1765562400", "2026-12-12", "2026-12-12T18:00:00"])
async def test_a_query_date_time_not_in_rfc3339_is_refused(
    http: httpx.AsyncClient, sent: str
) -> None:
    response = await http.get("/events", params={"from": sent})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("query.from:")


async def test_rfc3339_date_times_and_an_integral_number_for_an_integer_are_accepted(
    http: httpx.AsyncClient,
) -> None:
    listed = await http.get("/events", params={"from": "2026-12-12T18:00:00+01:00"})
    published = await http.post("/events", json={**EVENT, "capacity": 30.0})
    assert listed.status_code == 200, listed.text
    assert published.status_code == 201, published.text
    assert published.json()["capacity"] == 30


@pytest.mark.parametrize("sent", ["true", 1, 0, "false"])
async def test_a_body_boolean_of_another_json_type_is_refused(
    http: httpx.AsyncClient, sent: Any
) -> None:
    body = {**PREFERENCES, "push_notifications": sent}
    response = await http.put(f"/users/{uuid.uuid4()}/preferences", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("body.push_notifications:")


@pytest.mark.parametrize(("field", "sent"), [("capacity", "30"), ("capacity", True)])
async def test_a_body_integer_of_another_json_type_is_refused(
    http: httpx.AsyncClient, field: str, sent: Any
) -> None:
    response = await http.post("/events", json={**EVENT, field: sent})
    assert response.status_code == 422, response.text


async def test_a_null_is_still_refused_and_a_valid_body_still_passes(
    http: httpx.AsyncClient,
) -> None:
    path = f"/users/{uuid.uuid4()}/preferences"
    null = await http.put(path, json={**PREFERENCES, "language": None})
    fine = await http.put(path, json=PREFERENCES)
    assert null.status_code == 422 and "null" in null.json()["detail"]
    assert fine.status_code == 200 and fine.json() == PREFERENCES


async def test_a_body_that_is_not_a_json_object_is_a_422_not_a_server_error(
    http: httpx.AsyncClient,
) -> None:
    text = await http.put(
        f"/users/{uuid.uuid4()}/preferences",
        content=b'{"language": "es"}',
        headers={"Content-Type": "text/plain"},
    )
    array = await http.put(f"/users/{uuid.uuid4()}/preferences", json=[PREFERENCES])
    assert (text.status_code, array.status_code) == (422, 422), (text.text, array.text)


@pytest.mark.parametrize(
    "body",
    [
        {**EVENT, "title": "Cata\u0000de aceites"},
        {**EVENT, "title\u0000": "Cata"},
        {**EVENT, "title": "\u0000"},
    ],
    ids=["in-a-value", "in-a-key", "alone"],
)
async def test_a_nul_in_a_body_is_a_422_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await http.post("/events", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "U+0000" in detail and "body" in detail, detail


async def test_a_nul_deep_in_a_list_names_its_place(http: httpx.AsyncClient) -> None:
    body = {**PREFERENCES, "favourite_categories": ["olive_oil", "wine\u0000"]}
    response = await http.put(f"/users/{uuid.uuid4()}/preferences", json=body)
    assert response.status_code == 422, response.text
    assert "body.favourite_categories[1] holds U+0000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "status", "named"),
    [
        ("/events?province=ja%00en", 422, "query.province:"),
        ("/events?pro%00vince=jaen", 422, "query.province:"),
        ("/users/%00/preferences", 400, "path:"),
    ],
)
async def test_a_nul_in_the_url_is_refused_before_any_route_reads_it(
    http: httpx.AsyncClient, url: str, status: int, named: str
) -> None:
    response = await http.get(url)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.startswith(named) and "U+0000" in detail, detail
    assert response.headers["x-correlation-id"]


@pytest.mark.parametrize("character", ["\u0001", "\t", "\n", "\r", "\u001b", "\u007f"])
async def test_a_control_character_in_a_one_line_text_is_a_422_naming_the_field(
    http: httpx.AsyncClient, character: str
) -> None:
    """The contract's pattern says a title is one line of text: no C0 control, nor DEL."""
    response = await http.post("/events", json={**EVENT, "title": f"Cata{character}de aceites"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("body.title:"), response.text


async def test_accents_and_symbols_pass_in_a_one_line_text(http: httpx.AsyncClient) -> None:
    body = {**EVENT, "title": "Cata de aceites de Jaén · Úbeda «2026» \u2013 10 €"}
    response = await http.post("/events", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == body["title"]


def test_a_multi_line_text_keeps_tabs_and_newlines_and_refuses_other_controls() -> None:
    """A chat message is free text: TAB, LF and CR pass, other C0 controls and DEL do not."""
    from pydantic import ValidationError

    from generated.chat.models import SendChatMessageRequest

    sender = uuid.uuid4()
    kept = SendChatMessageRequest(sender_id=sender, body="Hola,\r\n\t¿queda aceite Picual?")
    assert kept.body == "Hola,\r\n\t¿queda aceite Picual?"
    for character in ("\u0000", "\u0007", "\u000b", "\u000c", "\u001f", "\u007f"):
        with pytest.raises(ValidationError, match="body"):
            SendChatMessageRequest(sender_id=sender, body=f"Hola{character}")


INT64_MAX = 2**63 - 1


async def test_a_path_integer_beyond_int64_is_a_422_not_a_database_error(
    http: httpx.AsyncClient,
) -> None:
    """`stream_sequence` is `format: int64`: the generated route bounds it, as PostgreSQL's
    bigint would only later, with a 500."""
    beyond = await http.post(f"/dlq/{INT64_MAX + 1}/redrive")
    assert beyond.status_code == 422, beyond.text
    assert "stream_sequence" in beyond.text
    largest = await http.post(f"/dlq/{INT64_MAX}/redrive")
    assert largest.status_code == 202, largest.text
    assert largest.json()["stream_sequence"] == INT64_MAX


def test_a_message_integer_of_format_int64_is_bounded_by_the_generated_model() -> None:
    now = datetime.now(UTC)
    fields = {
        "product_id": uuid.uuid4(),
        "artisan_id": uuid.uuid4(),
        "reserved": 0,
        "adjusted_at": now,
    }
    assert StockAdjusted(**fields, available=INT64_MAX).available == INT64_MAX
    with pytest.raises(ValueError, match="available"):
        StockAdjusted(**fields, available=INT64_MAX + 1)
