"""The relay's bus port on a real nats-server: pipelined publishes, acks matched per message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig

from runtime.bus.failures import PublishError
from runtime.outbox import RawMessage
from runtime.service.jetstream import JetStreamRawPublisher


@pytest.fixture
async def nc(nats_url: str, unique_id: str) -> AsyncIterator[Client]:
    """A connection and a stream `R<uid>` on `r<uid>.>` of the test's own."""
    client = await nats.connect(nats_url)
    await client.jetstream().add_stream(
        StreamConfig(name=f"R{unique_id}", subjects=[f"r{unique_id}.>"], duplicate_window=60.0)
    )
    yield client
    await client.jetstream().delete_stream(f"R{unique_id}")
    await client.close()


def message(uid: str, n: int, *, subject: str | None = None) -> RawMessage:
    return RawMessage(
        subject or f"r{uid}.ev.v1",
        json.dumps({"n": n, "note": "ñ\u00e9"}).encode(),
        {"ce-id": f"id-{n}", "ce-type": "a4co.t.ev.v1", "correlation-id": f"c-{n}"},
        f"id-{n}",
    )


async def stored(nc: Client, uid: str) -> list[tuple[int, dict[str, str]]]:
    """What the stream holds, in order: each payload's `n` and its headers."""
    js = nc.jetstream()
    info = await js.stream_info(f"R{uid}")
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(f"R{uid}", seq)
        out.append((json.loads(msg.data or b"{}")["n"], dict(msg.headers or {})))
    return out


async def test_a_batch_is_stored_in_order_with_its_headers_and_id(
    nc: Client, unique_id: str
) -> None:
    publisher = JetStreamRawPublisher(nc)
    results = await publisher.publish_all([message(unique_id, n) for n in range(300)])
    assert results == [None] * 300
    held = await stored(nc, unique_id)
    assert [n for n, _ in held] == list(range(300))
    assert held[7][1]["Nats-Msg-Id"] == "id-7"
    assert held[7][1]["correlation-id"] == "c-7"
    assert held[7][1]["ce-type"] == "a4co.t.ev.v1"


async def test_a_repeated_batch_is_acknowledged_and_stored_once(nc: Client, unique_id: str) -> None:
    publisher = JetStreamRawPublisher(nc)
    batch = [message(unique_id, n) for n in range(5)]
    assert await publisher.publish_all(batch) == [None] * 5
    assert await publisher.publish_all([*batch, message(unique_id, 5)]) == [None] * 6
    assert [n for n, _ in await stored(nc, unique_id)] == [0, 1, 2, 3, 4, 5]


async def test_a_refused_message_fails_alone_and_its_neighbours_are_stored(
    nc: Client, unique_id: str
) -> None:
    publisher = JetStreamRawPublisher(nc)
    nowhere = message(unique_id, 1, subject=f"nowhere{unique_id}.ev.v1")
    results = await publisher.publish_all([message(unique_id, 0), nowhere, message(unique_id, 2)])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], PublishError)
    assert "no stream captures" in str(results[1])
    assert [n for n, _ in await stored(nc, unique_id)] == [0, 2]


async def test_a_message_that_cannot_be_written_stops_the_batch_there(
    nc: Client, unique_id: str
) -> None:
    publisher = JetStreamRawPublisher(nc)
    bad_subject = message(unique_id, 1, subject=f"r{unique_id}.with space")
    bad_header = RawMessage(f"r{unique_id}.ev.v1", b'{"n": 3}', {"bad\r\nname": "x"}, "id-3")
    huge = message(unique_id, 4)._replace(payload=b"x" * (nc.max_payload + 1))
    for poison in (bad_subject, bad_header, huge):
        results = await publisher.publish_all(
            [message(unique_id, 0), poison, message(unique_id, 2)]
        )
        assert results[0] is None
        assert isinstance(results[1], PublishError)
        assert isinstance(results[2], PublishError)
        assert "earlier message failed" in str(results[2])
    assert [n for n, _ in await stored(nc, unique_id)] == [0]


async def test_header_values_are_cleaned_as_nats_py_cleans_them(nc: Client, unique_id: str) -> None:
    publisher = JetStreamRawPublisher(nc)
    sneaky = RawMessage(
        f"r{unique_id}.ev.v1",
        b'{"n": 0}',
        {"correlation-id": " c\r\nNats-Msg-Id: forged ", "ce-id": "id-0"},
        "id-0",
    )
    assert await publisher.publish_all([sneaky]) == [None]
    ((_, headers),) = await stored(nc, unique_id)
    assert headers["correlation-id"] == "c  Nats-Msg-Id: forged"
    assert headers["Nats-Msg-Id"] == "id-0"


async def test_no_ack_in_time_is_a_failure_per_message(nats_url: str, unique_id: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        # A plain subscriber on a subject no stream captures: it takes the message and
        # never answers, so no ack comes back.
        await nc.subscribe(f"silent{unique_id}.>", cb=_ignore)
        publisher = JetStreamRawPublisher(nc, ack_timeout=0.5)
        results = await publisher.publish_all(
            [message(unique_id, n, subject=f"silent{unique_id}.ev") for n in range(3)]
        )
        assert all(isinstance(r, PublishError) and "no ack" in str(r) for r in results)
        assert await publisher.publish_all([]) == []
    finally:
        await nc.close()


async def _ignore(_msg: object) -> None:
    return None
