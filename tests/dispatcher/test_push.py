"""faas/dispatcher/push.py with its socket replaced by outboxes: where tasks go."""

from __future__ import annotations

import collections

import fakeredis
import pytest

from faas.config import Settings
from faas.store import Store
from tests.fakes import FakePush, frames, intake, make, register


async def _submit(store: Store, n: int) -> None:
    await store.ensure_group()
    f = await store.register_function("f", b"code")
    for _ in range(n):
        await store.submit(f, b"args")


def _sent(d: FakePush, workers: list[str]) -> collections.Counter:
    return collections.Counter(
        {w: sum(len(frame.tasks) for frame in frames(d, w)) for w in workers}
    )


@pytest.mark.parametrize(("prefetch", "expected"), [(0, {"a": 1, "b": 3}), (1, {"a": 2, "b": 4})])
async def test_tasks_fill_the_most_free_workers_up_to_processes_plus_prefetch(
    fake_server: fakeredis.FakeServer, store: Store, prefetch: int, expected: dict
) -> None:
    d = make(fake_server, Settings(prefetch=prefetch, backlog=32))
    await register(d, "a", processes=1)
    await register(d, "b", processes=3)
    await _submit(store, 10)
    await intake(d)
    assert _sent(d, ["a", "b"]) == expected
    assert len(d.backlog) == 10 - sum(expected.values())
    assert d.free_slots() == 0


async def test_equal_workers_share_tasks_round_robin(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    d = make(fake_server, Settings(backlog=32))
    for w in ("a", "b", "c"):
        await register(d, w, processes=2)
    await _submit(store, 6)
    await intake(d)
    assert _sent(d, ["a", "b", "c"]) == {"a": 2, "b": 2, "c": 2}


async def test_a_worker_that_cannot_be_reached_gets_nothing_counted(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    d = make(fake_server, Settings(backlog=32))
    await register(d, "a", processes=2)
    d.unreachable.add("a")
    await _submit(store, 2)
    await intake(d)
    assert d.load("a") == 0 and len(d.backlog) == 2 and d.inflight == {}


async def test_results_are_acknowledged_only_once_their_outcome_is_written(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    """The worker drops a result when acknowledged, so the ack must wait for the write:
    acknowledged before it, a result would die with the dispatcher on both sides."""
    from faas.protocol import Heartbeat, ResultMsg, Results
    from tests.fakes import status

    d = make(fake_server, Settings(backlog=32))
    await register(d, "w", processes=1)
    await _submit(store, 1)
    await intake(d)
    [task] = frames(d, "w")[0].tasks
    done = ResultMsg(task.task_id, task.entry_id, task.attempt, "COMPLETED", b"ok")
    await d.handle(b"w", Results([done], seq=5))

    async def acked() -> int:
        await d.handle(b"w", Heartbeat([], 0))
        return [m for m in d.outboxes["w"] if isinstance(m, Heartbeat)][-1].acked

    assert await acked() == 0  # queued for the writer, not in Redis yet
    assert (await status(store, task.task_id))[b"status"] != b"COMPLETED"
    await d.flush()
    assert await acked() == 5
    assert (await status(store, task.task_id))[b"status"] == b"COMPLETED"
    await d.handle(b"w", Results([done], seq=5))  # handed in again (after a re-register)
    await d.flush()
    assert await acked() == 5
    record = await status(store, task.task_id)
    assert record[b"status"] == b"COMPLETED" and record[b"attempts"] == b"1"
