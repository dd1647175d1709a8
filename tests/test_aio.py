"""faas.aio.cancel_and_wait: a task that swallows a cancellation still ends."""

from __future__ import annotations

import asyncio

from faas.aio import RECANCEL_S, cancel_and_wait


def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    ignored: list[str] = []

    async def swallower() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:  # as redis-py can, taking a pooled connection
            ignored.append("first")
        await asyncio.sleep(60)  # ...and runs on to its next await

    async def scenario() -> tuple[float, asyncio.Task, asyncio.Task]:
        loop = asyncio.get_running_loop()
        stubborn = asyncio.create_task(swallower())
        plain = asyncio.create_task(asyncio.sleep(60))
        await asyncio.sleep(0)
        started = loop.time()
        await asyncio.wait_for(cancel_and_wait(stubborn, plain), 5)
        return loop.time() - started, stubborn, plain

    elapsed, stubborn, plain = asyncio.run(scenario())
    assert ignored == ["first"]
    assert stubborn.cancelled() and plain.cancelled()
    assert RECANCEL_S <= elapsed < 1.0  # one more round, not the 60 s sleep


def test_finished_tasks_keep_their_result() -> None:
    async def scenario() -> asyncio.Task:
        done = asyncio.create_task(asyncio.sleep(0, result=7))
        await done
        await cancel_and_wait(done)
        return done

    assert asyncio.run(scenario()).result() == 7
