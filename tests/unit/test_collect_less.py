"""A serving process tunes CPython's cycle collector once it has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runtime.service.host import GC_THRESHOLD, collect_less


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the test process its collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_frozen_and_the_young_are_collected_less_often(
    collector: None,
) -> None:
    built_at_start_up = [{"n": n} for n in range(1000)]
    collect_less()

    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == GC_THRESHOLD
    assert GC_THRESHOLD[0] > 700  # CPython's default, which collected every few messages
    gc.collect()  # a full collection no longer walks what was frozen
    assert gc.get_freeze_count() >= len(built_at_start_up)
