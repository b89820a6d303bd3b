"""`cancel_all`: a host's stop ends its tasks even when one loses a cancellation."""

from __future__ import annotations

import asyncio

from runtime.service.host import cancel_all


async def test_a_task_that_loses_its_cancellation_is_cancelled_again() -> None:
    cancellations = 0

    async def loop() -> None:  # a job's loop whose first cancellation is lost
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations == 1:
                    continue  # as Python 3.11's wait_for does when its future completes too
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    async with asyncio.timeout(30):
        await cancel_all([task], again_after=0.05)
    assert task.cancelled()
    assert cancellations == 2


async def test_tasks_that_end_at_once_are_cancelled_once_and_done_ones_left_alone() -> None:
    cancellations = 0

    async def polite() -> None:
        nonlocal cancellations
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancellations += 1
            raise

    async def finished() -> str:
        return "done"

    tasks = [asyncio.create_task(polite()) for _ in range(3)]
    done = asyncio.create_task(finished())
    await asyncio.sleep(0)
    assert done.done()
    await cancel_all([*tasks, done], again_after=30)
    assert all(task.cancelled() for task in tasks)
    assert cancellations == 3
    assert done.result() == "done"
