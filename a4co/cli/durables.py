"""What the running broker says about the durables that read versioned subjects: each one's
filters and how many messages it has left, per subject where it reads several.

A durable that reads v1 and v2 (a consumer of v2 that also upcasts v1 during a migration)
has one pending count for both; the count for each subject is the number of that subject's
messages past the durable's ack floor, read with the stream's next-by-subject lookups.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from a4co.cli.bus import nats_connection
from codegen.migration import LiveConsumer
from codegen.model import subject_matches

__all__ = ["COUNT_LIMIT", "filters_of", "live_consumers", "pending_of"]

COUNT_LIMIT = 1000
"""Messages of one subject counted past a durable's ack floor at most (enough to say that
it is still read; a larger backlog shows as this many)."""


async def live_consumers(
    nats_url: str | None, streams: list[str], subjects: list[str]
) -> list[LiveConsumer]:
    """Every durable of `streams`, with its filters, pending count and, where it reads more
    than one of `subjects`, the count of each."""
    out = []
    async with nats_connection(nats_url) as nc:
        js = nc.jetstream()
        for stream in streams:
            try:
                infos = await js.consumers_info(stream)
            except NotFoundError:
                continue  # the stream is not created yet: nothing reads it
            for info in infos:
                out.append(await _consumer(js, stream, info, subjects))
    return out


async def _consumer(
    js: JetStreamContext, stream: str, info: ConsumerInfo, subjects: list[str]
) -> LiveConsumer:
    config = info.config
    filters, pending = filters_of(info), pending_of(info)
    read = [s for s in subjects if any(subject_matches(f, s) for f in filters)]
    by_subject: tuple[tuple[str, int], ...] = ()
    if len(read) > 1 and pending:
        floor = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
        by_subject = tuple([(s, await _left(js, stream, s, floor)) for s in read])
    durable = config.durable_name or info.name or "?"
    return LiveConsumer(stream, durable, filters, pending, by_subject)


def filters_of(info: ConsumerInfo) -> tuple[str, ...]:
    """The subjects a durable reads: its filters, or `>` for the whole stream."""
    config = info.config
    return tuple(config.filter_subjects or ()) or (
        (config.filter_subject,) if config.filter_subject else (">",)
    )


def pending_of(info: ConsumerInfo) -> int:
    """Messages not yet delivered to the durable or not yet acked by it."""
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


async def _left(js: JetStreamContext, stream: str, subject: str, floor: int) -> int:
    """Messages of `subject` in `stream` after sequence `floor`, at most COUNT_LIMIT."""
    count, seq = 0, floor + 1
    while count < COUNT_LIMIT:
        try:
            message = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        count += 1
        seq = (message.seq or seq) + 1
    return count
