"""Steps between major versions: chained upcasts of stored events, ids of copies, hooks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from runtime.errors import ConfigurationError
from runtime.eventstore.base import RecordedEvent
from runtime.upcasting import Upcasters, VersionStep, copy_id


def recorded(subject: str, payload: dict[str, object]) -> RecordedEvent:
    return RecordedEvent(
        position=1,
        stream_id="order-1",
        version=1,
        event_id=uuid.uuid4(),
        type=f"a4co.{subject}",
        subject=subject,
        payload=json.dumps(payload).encode(),
        aggregate_id="1",
        headers={},
        recorded_at=datetime.now(UTC),
    )


def test_a_stored_event_is_upcast_through_every_version_to_the_newest() -> None:
    upcasters = Upcasters(
        [
            VersionStep("shop.placed.v1", "shop.placed.v2", convert=lambda p: {**p, "n": 2}),
            VersionStep("shop.placed.v2", "shop.placed.v3", convert=lambda p: {**p, "m": 3}),
            VersionStep("shop.placed.v2", "shop.placed.v1", convert=lambda p: {"never": 1}),
        ]
    )
    event = upcasters.newest(recorded("shop.placed.v1", {"id": "a"}))
    assert (event.subject, event.type) == ("shop.placed.v3", "a4co.shop.placed.v3")
    assert event.json() == {"id": "a", "n": 2, "m": 3}
    newest = recorded("shop.placed.v3", {"id": "b"})
    assert upcasters.newest(newest) is newest


def test_the_ids_of_copies_are_derived_the_same_way_by_producer_and_consumer() -> None:
    first = copy_id("abc", "shop.placed.v2")
    assert first == copy_id("abc", "shop.placed.v2") != copy_id("abd", "shop.placed.v2")
    assert uuid.UUID(first).version == 5


def test_a_missing_hook_names_the_subjects_and_where_to_write_it() -> None:
    step = VersionStep("shop.placed.v1", "shop.placed.v2", hook="services.shop.versions:up")
    with pytest.raises(ConfigurationError, match=r"shop\.placed\.v1 -> shop\.placed\.v2.*up"):
        step.resolve()


def test_every_step_of_the_platform_resolves() -> None:
    """A hook the generator named and its owner has not written fails here, and at start."""
    from generated.versions import STEPS

    for step in STEPS:
        assert callable(step.resolve()), step


async def test_the_memory_store_upcasts_on_load_as_the_postgres_one_does() -> None:
    from runtime.eventstore.base import NewEvent
    from runtime.eventstore.memory import MemoryEventStore

    store = MemoryEventStore(
        Upcasters(
            [VersionStep("shop.placed.v1", "shop.placed.v2", convert=lambda p: {**p, "n": 2})]
        )
    )
    old = NewEvent(
        type="a4co.shop.placed.v1",
        subject="shop.placed.v1",
        payload=b'{"id": "a"}',
        aggregate_id="a",
    )
    await store.append("shop-a", 0, [old])

    (loaded,) = await store.load("shop-a")
    (read,) = await store.read_all()
    assert loaded.json() == read.json() == {"id": "a", "n": 2}
    assert loaded.type == read.type == "a4co.shop.placed.v2"
