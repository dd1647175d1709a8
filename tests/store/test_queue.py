"""faas/store/queue.py on fakeredis: claims and the dispatcher's writes (check-and-set)."""

from __future__ import annotations

import time

from faas.models import Task, TaskStatus
from faas.store import QUEUE_KEY, STATS_KEY, Outcome, Requeued, Running, Store
from tests.helpers import task_fields


async def _claimed(store: Store, consumer: str = "d1", n: int = 1) -> list[Task]:
    await store.ensure_group()
    function_id = await store.register_function("f", b"fn-bytes")
    for i in range(n):
        await store.submit(function_id, f"args{i}".encode())
    return await store.read_queue(consumer, count=n, block_ms=10)


async def _running(store: Store, task: Task, worker: str, attempt: int = 1) -> None:
    await store.write_batch([Running(task.task_id, attempt, worker, time.time())])


async def test_read_queue_hands_each_task_to_one_consumer(store: Store) -> None:
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    ids = [await store.submit(function_id, f"args{i}".encode()) for i in range(3)]
    first = await store.read_queue("d1", count=2, block_ms=10)
    second = await store.read_queue("d2", count=10, block_ms=10)
    assert [t.task_id for t in first + second] == ids
    assert first[0].args == b"args0" and first[0].attempts == 0


async def test_first_terminal_result_wins_and_duplicate_is_dropped(store: Store) -> None:
    [task] = await _claimed(store)
    await _running(store, task, "w1")
    assert await store.status(task.task_id) is TaskStatus.RUNNING
    first = Outcome(task.task_id, task.entry_id, TaskStatus.COMPLETED, b"first", 1.0, 2.0, "w1")
    late = Outcome(task.task_id, task.entry_id, TaskStatus.FAILED, b"late", 3.0, 4.0, "w2")
    assert await store.write_batch([first], mode="push") == [1]
    assert await store.write_batch([late], mode="push") == [0]
    assert await store.result(task.task_id) == (TaskStatus.COMPLETED, b"first")
    assert (await task_fields(store, task.task_id))["worker"] == "w1"
    assert (await store.redis.xpending(QUEUE_KEY, "dispatchers"))["pending"] == 0
    assert await store.redis.xlen(QUEUE_KEY) == 0
    assert await store.redis.hget(STATS_KEY, "COMPLETED:push") == b"1"


async def test_requeue_never_moves_a_terminal_task(store: Store) -> None:
    [task] = await _claimed(store)
    done = Outcome(task.task_id, task.entry_id, TaskStatus.COMPLETED, b"r")
    assert await store.write_batch([done, Requeued(task.task_id, 1)]) == [1]
    assert await store.status(task.task_id) is TaskStatus.COMPLETED
    assert await store.redis.hget(STATS_KEY, "retries") is None


async def test_requeue_records_attempts_and_counts_a_retry_once(store: Store) -> None:
    [task] = await _claimed(store)
    await _running(store, task, "w1")
    await store.write_batch([Requeued(task.task_id, 1), Requeued(task.task_id, 1)])
    fields = await task_fields(store, task.task_id)
    assert (fields["status"], fields["attempts"]) == ("QUEUED", "1")
    assert await store.redis.hget(STATS_KEY, "retries") == b"1"


async def test_stale_claims_are_taken_over_with_their_attempts(store: Store) -> None:
    [task] = await _claimed(store, "dead")
    await _running(store, task, "w1", attempt=2)
    assert (await store.claim_stale("alive", min_idle_ms=60_000))[0] == []
    [taken], cursor = await store.claim_stale("alive", min_idle_ms=0)
    assert cursor == "0-0"  # the scan went round
    assert (taken.task_id, taken.attempts) == (task.task_id, 2)


async def test_read_own_pending_tells_running_from_never_handed_out(store: Store) -> None:
    tasks = await _claimed(store, "me", n=2)
    await _running(store, tasks[0], "w1")
    pending, running = await store.read_own_pending("me")
    assert [t.task_id for t in pending] == [t.task_id for t in tasks]
    assert running == {tasks[0].task_id}
    assert [t.attempts for t in pending] == [1, 0]


async def test_renew_answers_entries_no_longer_ours(store: Store) -> None:
    kept, finished = await _claimed(store, "me", n=2)
    await store.write_batch([Outcome(finished.task_id, finished.entry_id, TaskStatus.FAILED, b"")])
    assert await store.renew("me", [kept.entry_id, finished.entry_id]) == {finished.entry_id}
    assert await store.renew("other", [kept.entry_id]) == {kept.entry_id}
    assert await store.renew("me", []) == set()


async def test_late_running_mark_fills_only_missing_fields_of_a_terminal_task(store: Store) -> None:
    [task] = await _claimed(store)
    done = Outcome(task.task_id, task.entry_id, TaskStatus.COMPLETED, b"r", 1.0, 2.0, "w1")
    await store.write_batch([done])
    await _running(store, task, "w9")
    fields = await task_fields(store, task.task_id)
    assert fields["status"] == "COMPLETED" and fields["worker"] == "w1"
    assert float(fields["dispatched"]) > 0 and fields["attempts"] == "1"
