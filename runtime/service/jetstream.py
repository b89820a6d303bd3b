"""The outbox relay's bus port on JetStream: publish stored bytes with their headers."""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import Error as NatsError

from runtime.bus.failures import PublishError

__all__ = ["JetStreamRawPublisher"]


class JetStreamRawPublisher:
    """Publishes an outbox event and waits for JetStream to store it (dedupe by id)."""

    def __init__(self, nc: Client, *, ack_timeout: float = 5.0) -> None:
        self._js = nc.jetstream(timeout=ack_timeout)

    async def publish_raw(
        self, subject: str, payload: bytes, headers: dict[str, str], message_id: str
    ) -> None:
        """Publish; raise `PublishError` when JetStream did not accept it."""
        try:
            await self._js.publish(subject, payload, headers={**headers, "Nats-Msg-Id": message_id})
        except NatsError as exc:
            raise PublishError(f"JetStream refused {subject}: {exc}") from exc
