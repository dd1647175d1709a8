"""The store on fakeredis: submit, claim, transitions, check-and-set results."""

from __future__ import annotations

import pytest

from faas.exceptions import FunctionNotFoundError, TaskNotFoundError
from faas.models import DispatcherState, TaskStatus
from faas.store import QUEUE_KEY, Outcome, Store, task_key


async def _queued(store: Store, n: int = 1) -> list[str]:
    await store.ensure_group()
    function_id = await store.register_function("f", b"fn-bytes")
    return [await store.submit(function_id, f"args{i}".encode()) for i in range(n)]


async def test_submit_writes_task_and_queue_entry_together(store: Store) -> None:
    [task_id] = await _queued(store)
    assert await store.status(task_id) is TaskStatus.QUEUED
    record = await store.task_record(task_id)
    assert "attempts" not in record  # none made yet
    assert await store.redis.xlen(QUEUE_KEY) == 1


async def test_submit_to_unknown_function_stores_nothing(store: Store) -> None:
    await store.ensure_group()
    with pytest.raises(FunctionNotFoundError):
        await store.submit("00000000-0000-0000-0000-000000000000", b"x")
    assert await store.redis.xlen(QUEUE_KEY) == 0
    assert await store.redis.keys("faas:task:*") == []


async def test_unknown_task_raises_not_found(store: Store) -> None:
    with pytest.raises(TaskNotFoundError):
        await store.status("nope")
    with pytest.raises(TaskNotFoundError):
        await store.result("nope")


async def test_read_queue_hands_each_task_to_one_consumer(store: Store) -> None:
    ids = await _queued(store, 3)
    first = await store.read_queue("d1", count=2, block_ms=10)
    second = await store.read_queue("d2", count=10, block_ms=10)
    assert [t.task_id for t in first + second] == ids
    assert first[0].args == b"args0"


async def test_first_terminal_result_wins_and_duplicate_is_dropped(store: Store) -> None:
    [task_id] = await _queued(store)
    [task] = await store.read_queue("d1", 10, 10)
    await store.mark_running([(task, "w1")])
    assert await store.status(task_id) is TaskStatus.RUNNING
    first = Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"first", 1.0, 2.0, "w1")
    late = Outcome(task_id, task.entry_id, TaskStatus.FAILED, b"late", 3.0, 4.0, "w2")
    assert await store.finish([first]) == [True]
    assert await store.finish([late]) == [False]
    assert await store.result(task_id) == (TaskStatus.COMPLETED, b"first")
    assert (await store.task_record(task_id))["worker"] == "w1"
    pending = await store.redis.xpending(QUEUE_KEY, "dispatchers")
    assert pending["pending"] == 0
    assert await store.redis.xlen(QUEUE_KEY) == 0


async def test_requeue_never_moves_a_terminal_task(store: Store) -> None:
    [task_id] = await _queued(store)
    [task] = await store.read_queue("d1", 10, 10)
    await store.finish([Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"r")])
    task.attempts = 1
    await store.requeue([task])
    assert await store.status(task_id) is TaskStatus.COMPLETED


async def test_requeue_records_attempts(store: Store) -> None:
    [task_id] = await _queued(store)
    [task] = await store.read_queue("d1", 10, 10)
    task.attempts = 1
    await store.mark_running([(task, "w1")])
    await store.requeue([task])
    record = await store.task_record(task_id)
    assert (record["status"], record["attempts"]) == ("QUEUED", "1")


async def test_stale_claims_are_taken_over_with_their_attempts(store: Store) -> None:
    [task_id] = await _queued(store)
    [task] = await store.read_queue("dead", 10, 10)
    task.attempts = 2
    await store.mark_running([(task, "w1")])
    assert await store.claim_stale("alive", min_idle_ms=60_000) == []
    [taken] = await store.claim_stale("alive", min_idle_ms=0)
    assert (taken.task_id, taken.attempts) == (task_id, 2)


async def test_functions_fetches_payloads_and_none_for_unknown(store: Store) -> None:
    function_id = await store.register_function("f", b"code")
    assert await store.functions([function_id, "missing"]) == {
        function_id: b"code",
        "missing": None,
    }


async def test_dispatcher_state_round_trip_and_clear(store: Store) -> None:
    assert await store.health() is None
    state = DispatcherState(mode="push", workers=2, processes=4)
    await store.publish_dispatcher(state, ttl_s=5)
    assert await store.health() == state
    assert 0 < await store.redis.pttl("faas:dispatcher") <= 5000
    await store.clear_dispatcher()
    assert await store.health() is None


def test_keys_share_one_prefix() -> None:
    assert task_key("x") == "faas:task:x"


async def test_events_are_kept_in_order_with_their_fields(store: Store) -> None:
    await store.add_event("worker_lost", worker="w1", why="silent")
    await store.add_event("task_lost", worker="w2", tasks=3)
    events = await store.events()
    assert [(e["kind"], e["worker"]) for e in events] == [
        ("worker_lost", "w1"),
        ("task_lost", "w2"),
    ]
    assert events[1]["tasks"] == "3" and float(events[0]["time"]) > 0


async def test_late_running_mark_fills_only_missing_fields_of_a_terminal_task(store: Store) -> None:
    [task_id] = await _queued(store)
    [task] = await store.read_queue("d1", 10, 10)
    await store.finish(
        [Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"r", 1.0, 2.0, "w1")]
    )
    task.attempts = 1
    await store.mark_running([(task, "w9")])
    record = await store.task_record(task_id)
    assert record["status"] == "COMPLETED" and record["worker"] == "w1"
    assert float(record["dispatched"]) > 0 and record["attempts"] == "1"
