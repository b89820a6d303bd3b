"""The dead-letter queue: the `DLQ` stream, one subject per consumer (`dlq.<service>.<durable>`).

A dead letter keeps the original payload and envelope headers, plus `a4co-dlq-*` headers
saying where it came from and why it failed. It can be listed and redriven to its subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from runtime.bus.envelope import CE_ID, MSG_ID
from runtime.bus.failures import PublishError
from runtime.bus.nats_publisher import DLQ_STREAM
from runtime.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nats.js import JetStreamContext

__all__ = [
    "DeadLetter",
    "dead_letter",
    "dead_letter_counts",
    "dlq_subject",
    "list_dead_letters",
    "redrive",
]

DLQ_PREFIX = "a4co-dlq-"
ORIGINAL_SUBJECT = "a4co-dlq-subject"
ORIGINAL_STREAM = "a4co-dlq-stream"
ORIGINAL_SEQUENCE = "a4co-dlq-sequence"
CONSUMER = "a4co-dlq-consumer"
ERROR = "a4co-dlq-error"
ATTEMPTS = "a4co-dlq-attempts"
FAILED_AT = "a4co-dlq-failed-at"
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in the DLQ stream, and why it is there."""

    sequence: int
    original_subject: str
    original_sequence: int
    consumer: str
    error: str
    attempts: int
    failed_at: datetime
    payload: bytes
    headers: dict[str, str]


def dlq_subject(service: str, durable: str) -> str:
    """The DLQ subject of one consumer."""
    return f"dlq.{service}.{durable}"


async def dead_letter(
    js: JetStreamContext,
    *,
    service: str,
    durable: str,
    stream: str,
    message: tuple[str, int, bytes, Mapping[str, str] | None],
    error: str,
    attempts: int,
) -> None:
    """Store a failed message (subject, stream sequence, data, headers) in the DLQ."""
    subject, sequence, data, original = message
    headers = {k: v for k, v in (original or {}).items() if k != MSG_ID}
    headers.update(
        {
            MSG_ID: f"dlq:{stream}:{durable}:{sequence}",
            ORIGINAL_SUBJECT: subject,
            ORIGINAL_STREAM: stream,
            ORIGINAL_SEQUENCE: str(sequence),
            CONSUMER: durable,
            ERROR: _one_line(error),
            ATTEMPTS: str(attempts),
            FAILED_AT: datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    )
    target = dlq_subject(service, durable)
    try:
        await js.publish(target, data, headers=headers)
    except NatsError as exc:
        raise PublishError(f"could not dead-letter {subject} #{sequence} to {target}") from exc


async def dead_letter_counts(js: JetStreamContext) -> dict[tuple[str, str], int]:
    """How many dead letters wait in the DLQ stream, by (service, durable) of their consumer."""
    try:
        info = await js.stream_info(DLQ_STREAM, subjects_filter="dlq.>")
    except NotFoundError:
        return {}
    counts: dict[tuple[str, str], int] = {}
    for subject, n in (info.state.subjects or {}).items():
        # dlq.<service>.<durable>; `dlq.>` also takes a subject with no durable token.
        service, _, durable = subject.removeprefix("dlq.").partition(".")
        counts[service, durable] = counts.get((service, durable), 0) + n
    return counts


async def list_dead_letters(
    js: JetStreamContext, *, service: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """The newest `limit` dead letters, of one service or of all, newest first.

    The stream is read backwards a window of sequences at a time: within a window,
    each forward `get_msg(next=True)` on the subject filter lands on the next matching
    letter (the server skips the rest), so the cost is about one request per letter
    returned plus one per window, however long the DLQ. Empty windows double in size.
    """
    if limit <= 0:
        return []
    subject = f"dlq.{service}.>" if service else "dlq.>"
    try:
        last = (await js.stream_info(DLQ_STREAM)).state.last_seq
    except NotFoundError:
        return []
    newest: list[DeadLetter] = []
    high, window = last, max(limit, 16)
    while high >= 1 and len(newest) < limit:
        low = max(1, high - window + 1)
        found = await _letters_between(js, subject, low, high)
        newest.extend(reversed(found))
        if not found:
            window *= 2
        high = low - 1
    return newest[:limit]


async def _letters_between(
    js: JetStreamContext, subject: str, low: int, high: int
) -> list[DeadLetter]:
    """The letters on `subject` with sequences in [low, high], oldest first."""
    letters: list[DeadLetter] = []
    sequence = low
    while sequence <= high:
        try:
            raw = await js.get_msg(DLQ_STREAM, seq=sequence, subject=subject, next=True)
        except NotFoundError:
            break
        if raw.seq is None or raw.seq > high:
            break
        letters.append(_letter(raw.seq, raw.headers or {}, raw.data or b""))
        sequence = raw.seq + 1
    return letters


def _letter(sequence: int, raw_headers: Mapping[str, str], payload: bytes) -> DeadLetter:
    headers = dict(raw_headers)
    return DeadLetter(
        sequence=sequence,
        original_subject=headers.get(ORIGINAL_SUBJECT, ""),
        original_sequence=int(headers.get(ORIGINAL_SEQUENCE, "0")),
        consumer=headers.get(CONSUMER, ""),
        error=headers.get(ERROR, ""),
        attempts=int(headers.get(ATTEMPTS, "0")),
        failed_at=datetime.fromisoformat(headers[FAILED_AT]),
        payload=payload,
        headers=headers,
    )


async def redrive(js: JetStreamContext, dlq_sequence: int) -> int:
    """Republish a dead letter to its original subject, then delete it; return the new sequence."""
    try:
        raw = await js.get_msg(DLQ_STREAM, seq=dlq_sequence)
    except NotFoundError as exc:
        raise ConfigurationError(f"there is no dead letter #{dlq_sequence}") from exc
    original = dict(raw.headers or {})
    subject = original[ORIGINAL_SUBJECT]
    headers = {k: v for k, v in original.items() if not k.startswith(DLQ_PREFIX)}
    # A new Nats-Msg-Id, or dedupe would drop a redrive inside the duplicate window;
    # ce-id stays, so idempotent handlers still recognise the message.
    headers[MSG_ID] = f"{original.get(CE_ID, '')}:redrive:{dlq_sequence}"
    try:
        ack = await js.publish(subject, raw.data or b"", headers=headers)
        await js.delete_msg(DLQ_STREAM, dlq_sequence)
    except NatsError as exc:
        raise PublishError(f"could not redrive dead letter #{dlq_sequence} to {subject}") from exc
    return ack.seq


def _one_line(text: str) -> str:
    # NATS header values cannot hold line breaks, and the admin API's text refuses control
    # characters a failing payload may have put into the error.
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[:MAX_ERROR_CHARS]
