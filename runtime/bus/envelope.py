"""The envelope in NATS headers: CloudEvents NATS binding plus correlation and tracing.

The body is the payload alone; `build_headers` writes the metadata and `parse_context`
reads it back into a `MessageContext`, failing with a `ContractError` on missing keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runtime.bus.base import MessageContext
from runtime.errors import ContractError

if TYPE_CHECKING:
    from runtime.bus.base import Channel

__all__ = [
    "CAUSATION_ID",
    "CE_ID",
    "CE_SOURCE",
    "CE_SPECVERSION",
    "CE_SUBJECT",
    "CE_TIME",
    "CE_TYPE",
    "CORRELATION_ID",
    "MSG_ID",
    "REQUIRED_HEADERS",
    "SPECVERSION",
    "TRACEPARENT",
    "build_headers",
    "parse_context",
    "request_context",
]

CE_ID = "ce-id"
CE_TYPE = "ce-type"
CE_SOURCE = "ce-source"
CE_TIME = "ce-time"
CE_SUBJECT = "ce-subject"
CE_SPECVERSION = "ce-specversion"
CORRELATION_ID = "correlation-id"
CAUSATION_ID = "causation-id"
TRACEPARENT = "traceparent"
MSG_ID = "Nats-Msg-Id"
SPECVERSION = "1.0"
REQUIRED_HEADERS = (CE_ID, CE_TYPE, CE_SOURCE, CE_TIME, CE_SUBJECT, CE_SPECVERSION, CORRELATION_ID)


def build_headers(
    channel: Channel[Any],
    *,
    aggregate_id: str,
    cause: MessageContext | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The NATS headers of one message on `channel`; `ce-id` doubles as `Nats-Msg-Id`."""
    ce_id = message_id if message_id is not None else str(uuid.uuid4())
    moment = (now if now is not None else datetime.now(UTC)).astimezone(UTC)
    headers = {
        CE_ID: ce_id,
        MSG_ID: ce_id,
        CE_TYPE: channel.ce_type,
        CE_SOURCE: f"/services/{channel.owner}",
        CE_TIME: moment.isoformat().replace("+00:00", "Z"),
        CE_SUBJECT: aggregate_id,
        CE_SPECVERSION: SPECVERSION,
        # A message with no cause starts a conversation: its own id names it.
        CORRELATION_ID: cause.correlation_id if cause is not None else ce_id,
    }
    if cause is not None:
        headers[CAUSATION_ID] = cause.id
        if cause.traceparent:
            headers[TRACEPARENT] = cause.traceparent
    return headers


def parse_context(
    headers: Mapping[str, str] | None,
    *,
    bus_subject: str = "",
    stream_sequence: int = 0,
    attempt: int = 1,
) -> MessageContext:
    """Read the envelope of a received message; a missing or bad header is a ContractError."""
    found = headers or {}
    missing = [name for name in REQUIRED_HEADERS if not found.get(name)]
    if missing:
        raise ContractError(
            f"message on {bus_subject or '?'} lacks envelope headers: {', '.join(missing)}"
        )
    if found[CE_SPECVERSION] != SPECVERSION:
        raise ContractError(
            f"message on {bus_subject or '?'} has ce-specversion {found[CE_SPECVERSION]!r}, "
            f"expected {SPECVERSION!r}"
        )
    try:
        time = datetime.fromisoformat(found[CE_TIME])
    except ValueError as exc:
        raise ContractError(
            f"message on {bus_subject or '?'} has a ce-time that is not RFC 3339: "
            f"{found[CE_TIME]!r}"
        ) from exc
    return MessageContext(
        id=found[CE_ID],
        type=found[CE_TYPE],
        source=found[CE_SOURCE],
        time=time,
        subject=found[CE_SUBJECT],
        correlation_id=found[CORRELATION_ID],
        causation_id=found.get(CAUSATION_ID),
        traceparent=found.get(TRACEPARENT),
        bus_subject=bus_subject,
        stream_sequence=stream_sequence,
        attempt=attempt,
    )


def request_context(correlation_id: str, *, source: str) -> MessageContext:
    """The cause of messages sent for a request (or a timer): it carries the correlation id.

    Messages sent with it as `cause` share `correlation-id` with the whole business flow,
    and name the correlation id as their `causation-id`.
    """
    return MessageContext(
        id=correlation_id,
        type="a4co.request",
        source=source,
        time=datetime.now(UTC),
        subject="",
        correlation_id=correlation_id,
    )
