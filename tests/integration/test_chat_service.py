"""The chat service in-process on the session's real NATS and PostgreSQL, with the real user
service over real HTTP (stopped in one test, to see the fallback to the names chat keeps).

Every test registers fresh users: the schemas and streams are shared with the session.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from generated.chat.events import CHAT_MESSAGE_SENT
from generated.platform import STREAMS
from runtime.http.auth import SigningKey
from runtime.service import ServiceHost, Settings
from services.chat.service import NAME, definition
from services.user.service import definition as user_definition
from tests.e2e.harness import bound_socket, eventually

BASE = "http://chat.test"
KEY = SigningKey.generate()


class UserServer:
    """The user service's app on a fixed port, over real HTTP; it can be stopped and restarted."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        # Held until the first start, so nothing else takes the port before it; a restart
        # binds the same port again, which the test's stop has just released.
        self._socket: socket.socket | None = bound_socket()
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve until `stop()`."""
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        server = self._server = uvicorn.Server(config)
        sockets = [self._socket] if self._socket is not None else None
        self._socket = None
        self._task = asyncio.create_task(server.serve(sockets=sockets))
        await eventually(lambda: server.started)

    async def stop(self) -> None:
        """Stop answering (connections are refused from now on)."""
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


@dataclass
class Running:
    """The chat service, the user service behind it, and clients of both."""

    host: ServiceHost
    http: httpx.AsyncClient
    users: UserServer
    users_http: httpx.AsyncClient
    nc: Client


async def start_chat(
    nats_url: str, database_url: str, user_url: str
) -> tuple[ServiceHost, httpx.AsyncClient]:
    """A chat host that asks the user service at `user_url`, and a client of its app."""
    settings = Settings(service=NAME, nats_url=nats_url, database_url=database_url)
    host = ServiceHost(definition(user_url=user_url), settings, STREAMS, verifier=KEY)
    app = await host.start()
    return host, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture(scope="module")
async def service(nats_url: str, database_url: str) -> AsyncIterator[Running]:
    """The user service (real HTTP) and the chat service, started once for the module."""
    settings = Settings(service="user", nats_url=nats_url, database_url=database_url)
    user_host = ServiceHost(user_definition(), settings, STREAMS, verifier=KEY)
    users = UserServer(await user_host.start())
    await users.start()
    host, http = await start_chat(nats_url, database_url, users.url)
    users_http = httpx.AsyncClient(base_url=users.url)
    nc = await nats.connect(nats_url)
    try:
        yield Running(host, http, users, users_http, nc)
    finally:
        await nc.close()
        await users_http.aclose()
        await http.aclose()
        await host.stop()
        await users.stop()
        await user_host.stop()


def bearer(user_id: UUID, *roles: str, lifetime: int = 900) -> dict[str, str]:
    """Headers of a caller with these roles."""
    token = KEY.issue(user_id, roles or ("customer",), lifetime=lifetime)
    return {"Authorization": f"Bearer {token}"}


# Made at import, so it must outlive a whole suite run, not only this module's tests.
ADMIN = bearer(uuid.uuid4(), "admin", lifetime=86_400)


async def register(service: Running, full_name: str, role: str = "customer") -> UUID:
    """Register a user with the user service; their id."""
    response = await service.users_http.post(
        "/users",
        json={
            "email": f"u{uuid.uuid4().hex}@example.com",
            "full_name": full_name,
            "role": role,
            "province": "jaen",
            "password": "correct-horse-battery",
        },
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["user_id"])


async def open_conversation(
    http: httpx.AsyncClient, headers: dict[str, str], *ids: UUID, **fields: Any
) -> httpx.Response:
    """POST /conversations between `ids`."""
    body = {"participant_ids": [str(i) for i in ids], **fields}
    return await http.post("/conversations", json=body, headers=headers)


def names_of(conversation: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Participant id -> (display name, placeholder flag)."""
    return {
        p["user_id"]: (p["display_name"], p.get("placeholder", False))
        for p in conversation["participants"]
    }


async def test_an_admin_opens_a_conversation_with_names_from_the_profiles(
    service: Running,
) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    product = str(uuid.uuid4())
    opened = await open_conversation(service.http, ADMIN, customer, artisan, product_id=product)
    assert opened.status_code == 201, opened.text
    conversation = opened.json()
    assert names_of(conversation) == {
        str(customer): ("Lucía Martínez", False),
        str(artisan): ("Almazara Sierra Mágina", False),
    }
    assert conversation["product_id"] == product and "last_message_at" not in {
        k for k, v in conversation.items() if v is not None
    }

    again = await open_conversation(
        service.http, bearer(customer), artisan, customer, product_id=product
    )
    assert again.json()["conversation_id"] == conversation["conversation_id"]
    other_topic = await open_conversation(service.http, ADMIN, customer, artisan)
    assert other_topic.json()["conversation_id"] != conversation["conversation_id"]


async def test_a_customer_sees_the_artisans_name_the_user_service_would_not_show_them(
    service: Running,
) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Cerámica Úbeda", role="artisan")
    opened = await open_conversation(service.http, bearer(customer), customer, artisan)
    assert opened.status_code == 201
    path = f"/conversations/{opened.json()['conversation_id']}"

    async def artisan_named() -> bool:
        shown = (await service.http.get(path, headers=bearer(customer))).json()
        return names_of(shown)[str(artisan)] == ("Cerámica Úbeda", False)

    await eventually(artisan_named)  # from UserRegistered, which chat keeps


async def test_a_participant_that_does_not_exist_is_unprocessable(service: Running) -> None:
    customer = await register(service, "Lucía Martínez")
    response = await open_conversation(service.http, ADMIN, customer, uuid.uuid4())
    assert response.status_code == 422
    same = await open_conversation(service.http, ADMIN, customer, customer)
    assert same.status_code == 422


async def test_outsiders_can_neither_open_nor_read_nor_write(service: Running) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    outsider = bearer(uuid.uuid4())
    assert (await open_conversation(service.http, outsider, customer, artisan)).status_code == 403
    opened = (await open_conversation(service.http, ADMIN, customer, artisan)).json()
    path = f"/conversations/{opened['conversation_id']}"
    answers = [
        await service.http.get(path, headers=outsider),
        await service.http.get(f"{path}/messages", headers=outsider),
        await service.http.post(
            f"{path}/messages", json={"sender_id": str(customer), "body": "Hola"}, headers=outsider
        ),
    ]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert (await service.http.get(path)).status_code == 401
    missing = await service.http.get(f"/conversations/{uuid.uuid4()}", headers=ADMIN)
    assert missing.status_code == 404


async def test_a_message_goes_to_the_other_participant_and_is_announced(
    service: Running,
) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    opened = (await open_conversation(service.http, bearer(customer), customer, artisan)).json()
    path = f"/conversations/{opened['conversation_id']}"
    sub = await service.nc.jetstream().subscribe(
        CHAT_MESSAGE_SENT.subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    question = "¿El aceite de la cosecha temprana está disponible en garrafa de 5 litros?"
    sent = await service.http.post(
        f"{path}/messages",
        json={"sender_id": str(customer), "body": question},
        headers=bearer(customer),
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert (message["recipient_id"], message["body"]) == (str(artisan), question)

    async def announced() -> dict[str, Any] | None:
        try:
            msg = await sub.next_msg(timeout=0.2)
        except TimeoutError:
            return None
        data: dict[str, Any] = json.loads(msg.data)
        return data if data["message_id"] == message["message_id"] else None

    assert await eventually(announced) == message
    await sub.unsubscribe()

    answer = await service.http.post(
        f"{path}/messages",
        json={"sender_id": str(artisan), "body": "Sí, desde esta semana."},
        headers=bearer(artisan, "artisan"),
    )
    assert answer.json()["recipient_id"] == str(customer)
    page = (await service.http.get(f"{path}/messages?limit=1", headers=bearer(artisan))).json()
    assert [m["message_id"] for m in page["items"]] == [answer.json()["message_id"]]
    rest = await service.http.get(
        f"{path}/messages", params={"cursor": page["next_cursor"]}, headers=bearer(artisan)
    )
    assert [m["message_id"] for m in rest.json()["items"]] == [message["message_id"]]
    shown = (await service.http.get(path, headers=bearer(customer))).json()
    assert shown["last_message_at"] == answer.json()["sent_at"]


async def test_a_participant_cannot_write_as_the_other(service: Running) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    opened = (await open_conversation(service.http, bearer(customer), customer, artisan)).json()
    forged = await service.http.post(
        f"/conversations/{opened['conversation_id']}/messages",
        json={"sender_id": str(artisan), "body": "Regalo el aceite"},
        headers=bearer(customer),
    )
    assert forged.status_code == 403


async def test_a_renamed_user_is_shown_under_the_new_name(service: Running) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    opened = (await open_conversation(service.http, ADMIN, customer, artisan)).json()
    renamed = await service.users_http.patch(
        f"/users/{artisan}",
        json={"full_name": "Almazara Mágina e Hijos"},
        headers=bearer(artisan, "artisan"),
    )
    assert renamed.status_code == 200, renamed.text
    path = f"/conversations/{opened['conversation_id']}"

    async def shows_new_name() -> bool:
        shown = (await service.http.get(path, headers=bearer(customer))).json()
        return names_of(shown)[str(artisan)][0] == "Almazara Mágina e Hijos"

    await eventually(shows_new_name)  # from UserProfileUpdated


async def test_while_the_user_service_is_down_kept_names_or_flagged_placeholders_are_shown(
    service: Running, nats_url: str, database_url: str
) -> None:
    customer = await register(service, "Lucía Martínez")
    artisan = await register(service, "Almazara Sierra Mágina", role="artisan")
    known = (await open_conversation(service.http, ADMIN, customer, artisan)).json()
    # A chat host of its own: its circuit breaker opens without touching the module's.
    host, http = await start_chat(nats_url, database_url, service.users.url)
    await service.users.stop()
    try:
        reopened = await open_conversation(http, bearer(customer), customer, artisan)
        assert reopened.status_code == 201, reopened.text
        assert reopened.json()["conversation_id"] == known["conversation_id"]
        assert names_of(reopened.json()) == names_of(known)

        stranger = uuid.uuid4()  # never registered: no name kept anywhere
        for _ in range(3):  # enough failures to open the breaker; the answer stays the same
            unknown = await open_conversation(http, bearer(customer), customer, stranger)
            assert unknown.status_code == 201, unknown.text
            shown = names_of(unknown.json())
            assert shown[str(customer)] == ("Lucía Martínez", False)
            assert shown[str(stranger)] == (f"Usuario {stranger.hex[:8]}", True)
        read = await http.get(
            f"/conversations/{unknown.json()['conversation_id']}", headers=bearer(customer)
        )
        assert read.status_code == 200
        assert names_of(read.json())[str(stranger)][1] is True
    finally:
        await service.users.start()
        await http.aclose()
        await host.stop()
