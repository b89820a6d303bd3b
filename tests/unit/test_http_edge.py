"""A service's own edge, in process: body limits and revoked sessions, without the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request

from generated.order.api import build_router
from runtime.http import PROBLEM_JSON, create_app
from runtime.http.auth import SigningKey
from runtime.service import Settings
from runtime.service.host import serve
from tests.unit.test_http_app import OrdersApi, place

KEY = SigningKey.generate("edge")
LIMIT = 1024


class Revoked:
    """A revocation list holding the sessions a test revoked."""

    def __init__(self) -> None:
        self.sessions: set[UUID] = set()

    async def revoked(self, session_id: UUID) -> bool:
        return session_id in self.sessions


def echo_app() -> tuple[APIRouter, list[int]]:
    """A route that reads its whole body and says how long it was."""
    router, seen = APIRouter(), []

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"length": len(body)}

    return router, seen


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_a_declared_length_over_the_limit_is_a_413_before_the_body_is_read() -> None:
    router, seen = echo_app()
    app = create_app("svc", [router], max_body_bytes=LIMIT)

    async with client(app) as http:
        refused = await http.post("/echo", content=b"x" * (LIMIT + 1))
        fits = await http.post("/echo", content=b"x" * LIMIT)

    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert refused.json()["title"] == "Content Too Large"
    assert (fits.status_code, seen) == (200, [LIMIT])


async def test_a_chunked_body_is_refused_at_the_first_chunk_past_the_limit() -> None:
    router, seen = echo_app()
    app = create_app("svc", [router], max_body_bytes=LIMIT)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):  # 1 MB in all, if anyone read it
            sent.append(1)
            yield b"x" * 1000

    async with client(app) as http:
        refused = await http.post("/echo", content=chunks())

    assert refused.status_code == 413
    assert seen == []
    assert len(sent) < 1000


async def test_a_generated_route_refuses_a_huge_json_body_with_413() -> None:
    app = create_app("order", [build_router(OrdersApi())], verifier=KEY, max_body_bytes=LIMIT)
    body = place().model_dump(mode="json", exclude_none=True)
    body["card_token"] = "t" * (2 * LIMIT)
    token = KEY.issue(uuid.uuid4(), ["admin"])

    async with client(app) as http:
        refused = await http.post(
            "/orders", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    assert refused.status_code == 413


async def test_a_service_refuses_a_token_of_a_revoked_session_that_skipped_the_gateway() -> None:
    revocations = Revoked()
    app = create_app("order", [build_router(OrdersApi())], verifier=KEY, revocations=revocations)
    revoked_session, live_session = uuid.uuid4(), uuid.uuid4()
    revocations.sessions.add(revoked_session)

    async def get(session: UUID) -> httpx.Response:
        token = KEY.issue(uuid.uuid4(), ["admin"], session_id=session)
        async with client(app) as http:
            return await http.get(
                f"/orders/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}
            )

    refused, passed = await get(revoked_session), await get(live_session)

    assert refused.status_code == 401
    assert refused.json()["detail"] == "The token's session was revoked."
    assert refused.headers["www-authenticate"] == "Bearer"
    assert passed.status_code == 404  # through authentication to the (empty) store


async def test_services_are_served_without_uvicorns_own_proxy_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs: list[uvicorn.Config] = []

    class Server:
        def __init__(self, config: uvicorn.Config) -> None:
            configs.append(config)

        async def serve(self) -> None:
            return None

    class Host:
        settings = Settings(service="svc", nats_url="nats://x", database_url="postgresql://x")

        async def start(self) -> FastAPI:
            return create_app("svc", [])

        async def stop(self) -> None:
            return None

    monkeypatch.setattr(uvicorn, "Server", Server)
    await serve(Host())  # type: ignore[arg-type]

    assert configs[0].proxy_headers is False  # a client's X-Forwarded-For is the gateway's call
