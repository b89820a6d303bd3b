"""The marketplace as its users see it: every call through the gateway, with auth's tokens.

`Gateway` gives typed clients of each service at `<gateway>/api/<service>`; `Member` is a
logged-in user; `NotificationStream` reads a user's live notifications (server-sent events)
through the gateway; `published` and `handled_by` read what the bus carried and what each
receiver's inbox recorded, for the delivery check of the marketplace test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from generated.auth.client import AuthClient
from generated.auth.models import TokenRequest
from generated.notification.models import Notification
from generated.user.client import UserClient
from generated.user.models import RegisterUserRequest
from runtime.bus.base import Subscription
from runtime.http import ProblemError, RestClient
from tests.e2e.harness import eventually

C = TypeVar("C", bound=RestClient)

PASSWORD = "correct-horse-battery"


class Gateway:
    """Typed clients of the services behind one gateway (one connection pool per service)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pools: dict[str, httpx.AsyncClient] = {}

    def client(self, kind: type[C], service: str, token: str | None = None) -> C:
        """A `kind` client of `<gateway>/api/<service>`, as the bearer of `token` if given."""
        base = f"{self.url}/api/{service}"
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = httpx.AsyncClient(base_url=base, timeout=10.0)
        client = kind(base, http=pool, retries=0)
        return client.with_token(token) if token else client

    async def log_in(self, email: str, password: str) -> str:
        """An access token from auth's password grant."""
        auth = self.client(AuthClient, "auth")
        tokens = await auth.issue_token(
            TokenRequest(grant_type="password", username=email, password=password)
        )
        return tokens.access_token

    async def log_in_when_known(self, email: str, password: str) -> str:
        """Log in once auth has made the login (it does so from the user service's events)."""

        async def attempt() -> str | None:
            try:
                return await self.log_in(email, password)
            except ProblemError as exc:
                if exc.status != 401:
                    raise
                return None

        token: str = await eventually(attempt, interval=0.2)
        return token

    async def register(self, role: str, full_name: str, province: str = "jaen") -> Member:
        """Register a user (public), then log in as them."""
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.es"
        profile = await self.client(UserClient, "user").register_user(
            RegisterUserRequest.model_validate(
                {
                    "email": email,
                    "full_name": full_name,
                    "role": role,
                    "province": province,
                    "password": PASSWORD,
                }
            )
        )
        return Member(profile.user_id, email, await self.log_in_when_known(email, PASSWORD))

    async def aclose(self) -> None:
        """Close every connection pool."""
        for pool in self._pools.values():
            await pool.aclose()


@dataclass(frozen=True)
class Member:
    """A logged-in user of the marketplace."""

    user_id: UUID
    email: str
    token: str


@dataclass
class NotificationStream:
    """A user's live notifications, read through the gateway as the storefront would."""

    gateway: Gateway
    member: Member
    received: list[Notification] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the stream; return once the service has said it is connected."""
        self._task = asyncio.create_task(self._read())
        opening = asyncio.ensure_future(self.opened.wait())
        done, _ = await asyncio.wait(
            {opening, self._task}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED
        )
        if opening not in done:
            opening.cancel()
            if self._task in done:
                self._task.result()  # raises what ended the reader
            raise AssertionError("the notification stream did not open within 10 s")

    async def close(self) -> None:
        """Stop reading (the connection closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self) -> None:
        url = f"{self.gateway.url}/api/notification/stream/{self.member.user_id}"
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {self.member.token}"}
        timeout = httpx.Timeout(10.0, read=None)
        async with (
            httpx.AsyncClient(timeout=timeout) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                body = await response.aread()
                raise AssertionError(f"stream answered {response.status_code}: {body[:200]!r}")
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    self.opened.set()
                elif line == "":
                    if event.get("event") == "notification":
                        self.received.append(Notification.model_validate_json(event["data"]))
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")


@dataclass(frozen=True)
class Published:
    """One message the bus stored: its id (`ce-id`) and its JSON payload."""

    message_id: str
    payload: dict[str, Any]

    def mentions(self, ids: Iterable[UUID]) -> bool:
        """Whether the payload names any of `ids` (the story's users, products, orders)."""
        text = json.dumps(self.payload)
        return any(str(i) in text for i in ids)


async def stream_positions(js: JetStreamContext, streams: Iterable[str]) -> dict[str, int]:
    """Each stream's last sequence now: what was stored before the story."""
    return {name: (await js.stream_info(name)).state.last_seq for name in streams}


async def published(js: JetStreamContext, stream: str, subject: str, after: int) -> list[Published]:
    """The messages on `subject` that `stream` stored after sequence `after`."""
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        ),
    )
    found: list[Published] = []
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while len(found) < pending:
            batch = await sub.fetch(min(pending - len(found), 256), timeout=5.0)
            found += [
                Published((m.headers or {}).get("ce-id", ""), json.loads(m.data)) for m in batch
            ]
    finally:
        await sub.unsubscribe()
    return found


async def handled_by(database_url: str, service: str, message_ids: Iterable[str]) -> set[str]:
    """Which of `message_ids` the service's inbox records (its handler committed them)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            f'SELECT DISTINCT message_id FROM "{service}".inbox WHERE message_id = ANY($1)',
            list(message_ids),
        )
    finally:
        await connection.close()
    return {row["message_id"] for row in rows}


def receivers(subscriptions: dict[str, tuple[Subscription, ...]]) -> dict[str, set[str]]:
    """Subject -> the services whose receive operations (durable consumers) take it."""
    found: dict[str, set[str]] = {}
    for service, subs in subscriptions.items():
        for sub in subs:
            found.setdefault(sub.channel.subject, set()).add(service)
    return found
