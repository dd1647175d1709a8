"""faas/dispatcher/pull.py with its socket replaced by outboxes: what a request gets."""

from __future__ import annotations

import fakeredis
import pytest

from faas.config import Settings
from faas.protocol import Reconnect, Request, ResultMsg, Tasks
from faas.store import Store
from tests.fakes import FakePull, make, register, status


@pytest.fixture
def settings() -> Settings:
    return Settings(heartbeat_s=1.0, heartbeat_timeout_s=3.0, backlog=16)


@pytest.fixture
async def pull(fake_server: fakeredis.FakeServer, settings: Settings, store: Store) -> FakePull:
    await store.ensure_group()
    return make(fake_server, settings, kind=FakePull)


async def _queued(d: FakePull, store: Store, n: int) -> list[str]:
    f = await store.register_function("f", b"code")
    ids = [await store.submit(f, b"args") for _ in range(n)]
    await d.accept(await d.store.read_queue(d.name, 100, None))
    return ids


def _replies(d: FakePull, worker: str) -> list:
    sent, d.outboxes[worker] = d.outboxes.get(worker, []), []
    return sent


async def test_a_request_gets_at_most_the_workers_processes(pull: FakePull, store: Store) -> None:
    register(pull, "w", processes=2)
    _replies(pull, "w")  # WELCOME
    await _queued(pull, store, 5)
    pull.handle(b"w", Request(want=10, idle=True))
    [reply] = _replies(pull, "w")
    assert isinstance(reply, Tasks) and len(reply.tasks) == 2
    assert [t.attempt for t in reply.tasks] == [1, 1] and reply.tasks[0].fn == b"code"
    assert pull.load("w") == 2 and len(pull.backlog) == 3


async def test_an_idle_request_is_held_until_work_arrives(pull: FakePull, store: Store) -> None:
    register(pull, "w", processes=1)
    _replies(pull, "w")
    pull.handle(b"w", Request(want=1, idle=True))
    assert _replies(pull, "w") == [] and pull.free_slots() == 1  # parked: long-poll
    [task_id] = await _queued(pull, store, 1)
    [reply] = _replies(pull, "w")
    assert [t.task_id for t in reply.tasks] == [task_id] and pull.free_slots() == 0


async def test_a_busy_request_with_nothing_to_do_is_answered_empty_at_once(
    pull: FakePull,
) -> None:
    register(pull, "w", processes=2)
    _replies(pull, "w")
    pull.handle(b"w", Request(want=1, idle=False))
    [reply] = _replies(pull, "w")
    assert isinstance(reply, Tasks) and reply.tasks == [] and reply.seq > 0
    assert pull.parked == {}
    pull.handle(b"w", Request(want=0, idle=True))  # a heartbeat: never parked
    [reply] = _replies(pull, "w")
    assert reply.tasks == [] and pull.parked == {}


async def test_results_ride_in_the_next_request(pull: FakePull, store: Store) -> None:
    register(pull, "w", processes=1)
    _replies(pull, "w")
    [task_id] = await _queued(pull, store, 1)
    pull.handle(b"w", Request(want=1, idle=True))
    [task] = _replies(pull, "w")[0].tasks
    done = ResultMsg(task.task_id, task.entry_id, task.attempt, "COMPLETED", b"42")
    pull.handle(b"w", Request(want=1, idle=True, results=[done], seen=10**18))
    await pull.flush()
    assert (await status(store, task_id))[b"status"] == b"COMPLETED"
    assert pull.load("w") == 0 and task_id not in pull.inflight


async def test_an_unknown_worker_is_told_to_register(pull: FakePull) -> None:
    pull.handle(b"stranger", Request(want=1, idle=True))
    [reply] = _replies(pull, "stranger")
    assert isinstance(reply, Reconnect) and pull.parked == {}


async def _functions(pull: FakePull, store: Store) -> tuple[str, str]:
    short = await store.register_function("short", b"code")
    long = await store.register_function("long", b"code")
    pull.durations.observe(short, 1.0, 1.0002)  # 0.2 ms
    pull.durations.observe(long, 1.0, 1.05)  # 50 ms
    return short, long


async def _queue(pull: FakePull, store: Store, function_ids: list[str]) -> None:
    for function_id in function_ids:
        await store.submit(function_id, b"args")
    await pull.accept(await pull.store.read_queue(pull.name, 100, None))


async def test_short_tasks_fill_the_room_a_request_asks_for_beyond_free_processes(
    pull: FakePull, store: Store
) -> None:
    register(pull, "w", processes=2)
    _replies(pull, "w")
    short, long = await _functions(pull, store)
    await _queue(pull, store, [short] * 6)
    pull.handle(b"w", Request(want=10, idle=True))  # asks beyond 2 x processes
    [reply] = _replies(pull, "w")
    assert len(reply.tasks) == 4 and pull.load("w") == 4


async def test_long_tasks_go_only_to_free_processes(pull: FakePull, store: Store) -> None:
    register(pull, "w", processes=2)
    _replies(pull, "w")
    short, long = await _functions(pull, store)
    await _queue(pull, store, [long] * 4)
    pull.handle(b"w", Request(want=4, idle=True))
    [reply] = _replies(pull, "w")
    assert len(reply.tasks) == 2
    # busy now, asking for its queue room: long tasks do not go there, it is answered empty
    pull.handle(b"w", Request(want=2, idle=False, held=[t.task_id for t in reply.tasks]))
    [reply] = _replies(pull, "w")
    assert reply.tasks == [] and pull.parked == {} and pull.load("w") == 2
    # a short task behind the long ones does not overtake them
    await _queue(pull, store, [short])
    assert _replies(pull, "w") == [] and [t.function_id for t in pull.backlog] == [
        long,
        long,
        short,
    ]
