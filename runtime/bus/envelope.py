"""The envelope in NATS headers: CloudEvents NATS binding plus correlation and tracing.

The body is the payload alone; `build_headers` writes the metadata and `parse_context`
reads it back into a `MessageContext`, failing with a `ContractError` on missing keys.
`header_block` writes the same headers straight into NATS's wire form, for publishers that
frame messages themselves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runtime.bus.base import MessageContext
from runtime.errors import ContractError
from runtime.observability import current_traceparent

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
    "encode_headers",
    "header_block",
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

_HEADER_LINE = "NATS/1.0\r\n"
# What nats-py accepts as a header name, and what it does to values (strip, no newlines).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
# The constant lines of each channel's header block (ce-type, ce-source, ce-specversion).
_CONSTANT_LINES: dict[tuple[str, str], str] = {}


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
    traceparent = current_traceparent() or (cause.traceparent if cause is not None else None)
    if traceparent:
        headers[TRACEPARENT] = traceparent
    return headers


def header_block(
    channel: Channel[Any],
    *,
    aggregate_id: str,
    cause: MessageContext | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> tuple[str, bytes]:
    """`build_headers` in NATS wire form: the `ce-id` and the encoded header block.

    The block (`NATS/1.0\\r\\nname: value\\r\\n...\\r\\n`) carries the same headers
    with the same values that nats-py would write for `build_headers(...)`: values stripped,
    CR and LF replaced by spaces. It is assembled with one `str.join` per message; the
    channel's constant lines are built once.
    """
    ce_id = message_id if message_id is not None else str(uuid.uuid4())
    wire_id = ce_id.strip()
    moment = (now if now is not None else datetime.now(UTC)).astimezone(UTC)
    key = (channel.subject, channel.owner)
    constant = _CONSTANT_LINES.get(key)
    if constant is None:
        constant = _CONSTANT_LINES[key] = (
            f"{CE_TYPE}: {_clean(channel.ce_type)}\r\n"
            f"{CE_SOURCE}: {_clean(f'/services/{channel.owner}')}\r\n"
        )
    # The order of build_headers, so the bytes are those nats-py would write for its dict.
    parts = [
        _HEADER_LINE,
        "ce-id: ",
        wire_id,
        "\r\nNats-Msg-Id: ",
        wire_id,
        "\r\n",
        constant,
        "ce-time: ",
        moment.isoformat().replace("+00:00", "Z"),
        "\r\nce-subject: ",
        aggregate_id.strip(),
        "\r\nce-specversion: 1.0\r\ncorrelation-id: ",
        cause.correlation_id.strip() if cause is not None else wire_id,
        "\r\n",
    ]
    lines = 9
    if cause is not None:
        parts += ("causation-id: ", cause.id.strip(), "\r\n")
        lines += 1
    traceparent = current_traceparent() or (cause.traceparent if cause is not None else None)
    if traceparent:
        parts += ("traceparent: ", traceparent.strip(), "\r\n")
        lines += 1
    parts.append("\r\n")
    block = "".join(parts)
    # One CR and one LF per line and at the end: any more came from a value.
    if block.count("\n") != lines + 1 or block.count("\r") != lines + 1:
        headers = build_headers(
            channel, aggregate_id=aggregate_id, cause=cause, message_id=ce_id, now=moment
        )
        return ce_id, encode_headers(headers)
    return ce_id, block.encode()


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """A NATS header block, encoded exactly as nats-py 2.16 encodes `headers`.

    Names are stripped (empty ones skipped) and must be RFC 7230 tokens; values are stripped
    and their CR and LF become spaces. A bad name raises `ContractError`.
    """
    lines = [_HEADER_LINE]
    for name, value in headers.items():
        key = name.strip()
        if not key:
            continue
        if not _HEADER_NAME.fullmatch(key):
            raise ContractError(f"{key!r} is not a valid NATS header name")
        lines.append(f"{key}: {_clean(value)}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


def _clean(value: str) -> str:
    return value.strip().translate(_NEWLINES)


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
