"""The auth service (with the user service that hands it credentials) on real NATS,
PostgreSQL and Redis, served over HTTP so that its JWKS is fetched as other services do.

One host of each serves the module; every test uses fresh users, because the schemas,
the Redis keys and the durable consumers are shared with the rest of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from generated.auth.events import (
    SESSION_REVOKED_V2,
    USER_CREDENTIALS_SET,
    USER_REGISTERED,
)
from generated.auth.models import UserCredentialsSet, UserRegistered
from generated.platform import STREAMS
from runtime.bus.base import Channel
from runtime.errors import ConfigurationError
from runtime.eventstore.postgres import connection_of
from runtime.http import PROBLEM_JSON
from runtime.http.auth import JwksVerifier, SigningKey, kid_of
from runtime.http.passwords import hash_password
from runtime.service import ServiceDefinition, ServiceHost, Settings
from services.auth.domain import BootstrapAdmin
from services.auth.handlers import AuthHandlers
from services.auth.keys import KeyStore
from services.auth.logins import LoginViews
from services.auth.service import definition as auth_definition
from services.user.service import definition as user_definition
from tests.conftest import context_of
from tests.e2e.harness import TEST_KEY, bound_socket, eventually, serve_asgi

PASSWORD = "correct-horse-battery"
ADMIN = BootstrapAdmin("root@a4co.test", "bootstrap-admin-pw")


@dataclass
class Auth:
    """The running auth and user services, an HTTP client, and the test's NATS connection."""

    host: ServiceHost
    url: str
    user_url: str
    http: httpx.AsyncClient
    nc: Client

    @property
    def keys(self) -> KeyStore:
        """The auth service's key store (its verifier)."""
        verifier = self.host.app.state.verifier if self.host.app else None
        assert isinstance(verifier, KeyStore)
        return verifier

    async def register(self, password: str = PASSWORD) -> tuple[UUID, str]:
        """Register a customer through the user service; return their id and e-mail."""
        email = f"a{uuid.uuid4().hex}@example.com"
        response = await self.http.post(
            f"{self.user_url}/users",
            json={
                "email": email,
                "full_name": "Lucía Martínez",
                "role": "customer",
                "province": "jaen",
                "password": password,
            },
        )
        assert response.status_code == 201, response.text
        return UUID(response.json()["user_id"]), email

    async def token(self, **body: Any) -> httpx.Response:
        """POST /token."""
        return await self.http.post(f"{self.url}/token", json=body)

    async def log_in(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in once the login exists (the user's events are consumed asynchronously)."""

        async def attempt() -> dict[str, Any] | None:
            response = await self.token(grant_type="password", username=email, password=password)
            return response.json() if response.status_code == 200 else None

        tokens: dict[str, Any] = await eventually(attempt)
        return tokens

    async def introspect(self, token: str) -> dict[str, Any]:
        """POST /introspect as an authenticated caller."""
        caller = self.keys.current.issue(uuid.uuid4(), ["admin"])
        response = await self.http.post(
            f"{self.url}/introspect",
            json={"token": token},
            headers={"Authorization": f"Bearer {caller}"},
        )
        assert response.status_code == 200, response.text
        # The generated routers render absent members as null; compare what is present.
        return {k: v for k, v in response.json().items() if v is not None}


@contextlib.asynccontextmanager
async def serving(
    definition: ServiceDefinition, settings: Settings, **host: Any
) -> AsyncIterator[tuple[ServiceHost, str]]:
    """A service host started and served by uvicorn on a port bound for it."""
    sock = bound_socket()
    settings = replace(settings, http_port=sock.getsockname()[1])
    running = ServiceHost(definition, settings, STREAMS, **host)
    app = await running.start()
    try:
        async with serve_asgi(app, sock) as url:
            yield running, url
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def auth(nats_url: str, database_url: str, redis_url: str) -> AsyncIterator[Auth]:
    """The auth service (with a bootstrap admin) and the user service, for the module."""
    auth_settings = Settings(
        service="auth",
        nats_url=nats_url,
        database_url=database_url,
        redis_url=redis_url,
    )
    user_settings = Settings(service="user", nats_url=nats_url, database_url=database_url)
    admin = f"{ADMIN.email}:{ADMIN.password}"
    async with (
        serving(auth_definition(bootstrap_admin=admin), auth_settings) as (host, url),
        serving(user_definition(), user_settings, verifier=TEST_KEY) as (_, user_url),
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        nc = await nats.connect(nats_url)
        try:
            yield Auth(host, url, user_url, http, nc)
        finally:
            await nc.close()


@contextlib.asynccontextmanager
async def revocations(
    nc: Client, channel: Channel[Any] = SESSION_REVOKED_V2
) -> AsyncIterator[list[Any]]:
    """SessionRevoked events of `channel`'s version published from now on, collected as they
    arrive."""
    seen: list[Any] = []

    async def collect(msg: Any) -> None:
        seen.append(channel.model.model_validate_json(msg.data))

    sub = await nc.jetstream().subscribe(
        channel.subject,
        stream="AUTH",
        cb=collect,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    try:
        yield seen
    finally:
        await sub.unsubscribe()


async def test_password_login_gives_a_token_that_verifies_against_the_served_jwks(
    auth: Auth,
) -> None:
    user_id, email = await auth.register()

    tokens = await auth.log_in(email)
    principal = await JwksVerifier(f"{auth.url}/.well-known/jwks.json").verify(
        tokens["access_token"]
    )

    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 900)
    assert principal.subject == user_id
    assert principal.roles == frozenset({"customer"})
    assert principal.session_id is not None
    assert tokens["refresh_token"].startswith(f"rt.{principal.session_id.hex}.")


async def test_a_wrong_password_or_an_unknown_email_is_a_401_problem(auth: Auth) -> None:
    _, email = await auth.register()
    await auth.log_in(email)

    wrong = await auth.token(grant_type="password", username=email, password="not-the-one")
    unknown = await auth.token(
        grant_type="password", username=f"nobody-{uuid.uuid4().hex}@example.com", password=PASSWORD
    )
    missing = await auth.token(grant_type="password", username=email)

    assert (wrong.status_code, unknown.status_code, missing.status_code) == (401, 401, 422)
    assert wrong.headers["content-type"].startswith(PROBLEM_JSON)
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_refresh_rotates_the_refresh_token_and_the_new_one_works(auth: Auth) -> None:
    _, email = await auth.register()
    first = await auth.log_in(email)

    second = await auth.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    third = await auth.token(
        grant_type="refresh_token", refresh_token=second.json()["refresh_token"]
    )

    assert second.status_code == 200 and third.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    sessions = {
        (await auth.keys.verify(t)).session_id
        for t in (first["access_token"], second.json()["access_token"])
    }
    assert len(sessions) == 1


async def test_reusing_a_refresh_token_revokes_its_session(auth: Auth) -> None:
    _, email = await auth.register()
    first = await auth.log_in(email)
    sid = (await auth.keys.verify(first["access_token"])).session_id
    second = (
        await auth.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    ).json()

    async with revocations(auth.nc) as seen:
        replay = await auth.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
        await eventually(lambda: any(e.session_id == sid for e in seen))
    current = await auth.token(grant_type="refresh_token", refresh_token=second["refresh_token"])

    assert [e.reason for e in seen if e.session_id == sid] == ["refresh_token_reused"]
    assert replay.status_code == 401
    assert current.status_code == 401
    assert (await auth.introspect(second["access_token"])) == {"active": False}


async def test_revoke_ends_the_session_and_announces_it_once(auth: Auth) -> None:
    user_id, email = await auth.register()
    tokens = await auth.log_in(email)
    other = await auth.log_in(email)
    sid = (await auth.keys.verify(tokens["access_token"])).session_id

    async with revocations(auth.nc) as seen:
        first = await auth.http.post(f"{auth.url}/revoke", json={"token": tokens["access_token"]})
        again = await auth.http.post(f"{auth.url}/revoke", json={"token": tokens["refresh_token"]})
        announced = await eventually(lambda: [e for e in seen if e.session_id == sid])

    assert first.json() == {"revoked": True, "session_id": str(sid)}
    assert again.json()["revoked"] is False
    assert [(e.user_id, e.reason) for e in announced] == [(user_id, "logout")]
    assert (await auth.introspect(tokens["access_token"]))["active"] is False
    assert (await auth.introspect(other["access_token"]))["active"] is True


async def test_introspection_tells_active_tokens_from_inactive_ones(auth: Auth) -> None:
    user_id, email = await auth.register()
    tokens = await auth.log_in(email)
    principal = await auth.keys.verify(tokens["access_token"])
    expired = auth.keys.current.issue(
        user_id, ["customer"], session_id=principal.session_id, now=1_000_000_000
    )
    foreign = TEST_KEY.issue(user_id, ["customer"], session_id=principal.session_id)
    sessionless = auth.keys.current.issue(user_id, ["customer"])

    active = await auth.introspect(tokens["access_token"])
    refresh = await auth.introspect(tokens["refresh_token"])
    inactive = [
        await auth.introspect(token)
        for token in (expired, foreign, sessionless, "garbage", f"rt.{uuid.uuid4().hex}.{'x' * 43}")
    ]

    assert active["active"] is True
    assert (active["sub"], active["session_id"]) == (str(user_id), str(principal.session_id))
    assert (active["roles"], active["exp"]) == (["customer"], principal.expires_at)
    assert (refresh["active"], refresh["sub"]) == (True, str(user_id))
    assert inactive == [{"active": False}] * 5


async def test_introspection_needs_a_bearer_token(auth: Auth) -> None:
    response = await auth.http.post(f"{auth.url}/introspect", json={"token": "x"})

    assert response.status_code == 401


def user_events(
    handlers: AuthHandlers, role: str, password_hash: str, now: datetime
) -> tuple[str, list[Coroutine[Any, Any, None]]]:
    """A new user's e-mail, and their UserRegistered and UserCredentialsSet handled by auth."""
    user_id, email = uuid.uuid4(), f"o{uuid.uuid4().hex}@example.com"
    registered = UserRegistered(
        user_id=user_id,
        email=email,
        full_name="Lucía",
        role=role,
        province="jaen",
        registered_at=now,
    )
    credentials = UserCredentialsSet(
        user_id=user_id,
        email=email,
        role=role,
        password_hash=password_hash,
        set_at=now,
    )
    return email, [
        handlers.on_user_registered(registered, context_of(USER_REGISTERED, str(user_id))),
        handlers.on_user_credentials_set(
            credentials, context_of(USER_CREDENTIALS_SET, str(user_id))
        ),
    ]


async def test_a_login_is_whole_whichever_user_event_arrives_first(auth: Auth) -> None:
    assert auth.host.context is not None
    handlers = AuthHandlers(auth.host.context, LoginViews("auth"))
    password_hash = await asyncio.to_thread(hash_password, PASSWORD)
    emails = []
    for credentials_first in (True, False):
        email, steps = user_events(handlers, "artisan", password_hash, datetime.now(UTC))
        for step in reversed(steps) if credentials_first else steps:
            await step
        emails.append(email)

    for email in emails:
        tokens = await auth.log_in(email)
        assert (await auth.keys.verify(tokens["access_token"])).roles == frozenset({"artisan"})


async def test_both_user_events_handled_at_once_make_one_whole_login(auth: Auth) -> None:
    # The two events reach auth on separate consumers, so their handlers can run at the
    # same moment. Both insert the row if absent; the e-mail's unique index, which the
    # upsert does not arbitrate, must not turn that race into a dead-lettered event.
    assert auth.host.context is not None
    handlers = AuthHandlers(auth.host.context, LoginViews("auth"))
    password_hash = await asyncio.to_thread(hash_password, PASSWORD)
    users = [user_events(handlers, "customer", password_hash, datetime.now(UTC)) for _ in range(50)]

    outcomes = await asyncio.gather(
        *(step for _, steps in users for step in steps), return_exceptions=True
    )

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    for email, _ in users:
        response = await auth.token(grant_type="password", username=email, password=PASSWORD)
        assert response.status_code == 200, response.text


async def test_an_older_password_does_not_replace_a_newer_one(auth: Auth) -> None:
    assert auth.host.context is not None
    handlers = AuthHandlers(auth.host.context, LoginViews("auth"))
    user_id, email, now = uuid.uuid4(), f"p{uuid.uuid4().hex}@example.com", datetime.now(UTC)
    for password, at in (("newer-password", now), ("older-password", now - timedelta(hours=1))):
        await handlers.on_user_credentials_set(
            UserCredentialsSet(
                user_id=user_id,
                email=email,
                role="customer",
                password_hash=await asyncio.to_thread(hash_password, password),
                set_at=at,
            ),
            context_of(USER_CREDENTIALS_SET, str(user_id)),
        )

    newer = await auth.token(grant_type="password", username=email, password="newer-password")
    older = await auth.token(grant_type="password", username=email, password="older-password")

    assert (newer.status_code, older.status_code) == (200, 401)


async def test_the_bootstrap_admin_logs_in_with_the_admin_role(auth: Auth) -> None:
    tokens = await auth.log_in(ADMIN.email, ADMIN.password)
    principal = await auth.keys.verify(tokens["access_token"])

    assert principal.subject == ADMIN.user_id
    assert principal.roles == frozenset({"admin"})


async def test_after_a_rotation_the_key_set_holds_the_new_and_the_previous_key(
    auth: Auth,
) -> None:
    _, email = await auth.register()
    before = await auth.log_in(email)
    old_kid = auth.keys.current.kid
    assert auth.host.context is not None

    async with auth.host.context.transaction() as tx:
        new = await auth.keys.rotate(connection_of(tx), datetime.now(UTC))
    jwks = (await auth.http.get(f"{auth.url}/.well-known/jwks.json")).json()
    after = await auth.log_in(email)

    assert [k["kid"] for k in jwks["keys"]] == [new.kid, old_kid]
    assert (await auth.keys.verify(before["access_token"])).subject == (
        await auth.keys.verify(after["access_token"])
    ).subject
    assert kid_of(after["access_token"]) == new.kid


async def test_auth_without_redis_fails_at_start_naming_the_setting(
    nats_url: str, database_url: str
) -> None:
    settings = Settings(service="auth", nats_url=nats_url, database_url=database_url)
    host = ServiceHost(auth_definition(bootstrap_admin=""), settings, STREAMS)
    try:
        with pytest.raises(ConfigurationError, match="A4CO_REDIS_URL"):
            await host.start()
    finally:
        await host.stop()


async def test_a_signing_key_of_another_service_is_not_accepted(auth: Auth) -> None:
    stranger = SigningKey.generate().issue(uuid.uuid4(), ["admin"])

    response = await auth.http.post(
        f"{auth.url}/introspect",
        json={"token": stranger},
        headers={"Authorization": f"Bearer {stranger}"},
    )

    assert response.status_code == 401
