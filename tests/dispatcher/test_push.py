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
    register(d, "a", processes=1)
    register(d, "b", processes=3)
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
        register(d, w, processes=2)
    await _submit(store, 6)
    await intake(d)
    assert _sent(d, ["a", "b", "c"]) == {"a": 2, "b": 2, "c": 2}


async def test_a_worker_that_cannot_be_reached_gets_nothing_counted(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    d = make(fake_server, Settings(backlog=32))
    register(d, "a", processes=2)
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
    register(d, "w", processes=1)
    await _submit(store, 1)
    await intake(d)
    [task] = frames(d, "w")[0].tasks
    done = ResultMsg(task.task_id, task.entry_id, task.attempt, "COMPLETED", b"ok")
    d.handle(b"w", Results([done], seq=5))

    def acked() -> int:
        d.handle(b"w", Heartbeat([], 0))
        return [m for m in d.outboxes["w"] if isinstance(m, Heartbeat)][-1].acked

    assert acked() == 0  # queued for the writer, not in Redis yet
    assert (await status(store, task.task_id))[b"status"] != b"COMPLETED"
    await d.flush()
    assert acked() == 5
    assert (await status(store, task.task_id))[b"status"] == b"COMPLETED"
    d.handle(b"w", Results([done], seq=5))  # handed in again (after a re-register)
    await d.flush()
    assert acked() == 5
    record = await status(store, task.task_id)
    assert record[b"status"] == b"COMPLETED" and record[b"attempts"] == b"1"


async def _short_and_long(d: FakePush, store: Store) -> tuple[str, str]:
    await store.ensure_group()
    short = await store.register_function("short", b"code")
    long = await store.register_function("long", b"code")
    d.durations.observe(short, 1.0, 1.0002)  # 0.2 ms
    d.durations.observe(long, 1.0, 1.05)  # 50 ms
    return short, long


@pytest.mark.parametrize(("kind", "expected"), [("short", 4), ("long", 2)])
async def test_short_tasks_also_queue_one_per_process_long_ones_only_fill_processes(
    fake_server: fakeredis.FakeServer, store: Store, kind: str, expected: int
) -> None:
    d = make(fake_server, Settings(backlog=32))
    register(d, "a", processes=2)
    short, long = await _short_and_long(d, store)
    for _ in range(10):
        await store.submit(short if kind == "short" else long, b"args")
    await intake(d)
    assert _sent(d, ["a"]) == {"a": expected}
    assert d.free_slots() == 0


async def test_a_long_task_first_in_line_waits_for_a_free_process_and_the_rest_behind_it(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    d = make(fake_server, Settings(backlog=32))
    register(d, "a", processes=1)
    short, long = await _short_and_long(d, store)
    for function_id in (short, long, short, short):
        await store.submit(function_id, b"args")
    await intake(d)
    # the short one runs; the long one has no free process, and nothing overtakes it
    assert [t.function_id for f in frames(d, "a") for t in f.tasks] == [short]
    assert [t.function_id for t in d.backlog] == [long, short, short]


async def test_short_tasks_are_not_queued_when_turned_off(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    d = make(fake_server, Settings(backlog=32, prefetch_short_ms=0))
    register(d, "a", processes=2)
    short, _ = await _short_and_long(d, store)
    for _ in range(5):
        await store.submit(short, b"args")
    await intake(d)
    assert _sent(d, ["a"]) == {"a": 2}
