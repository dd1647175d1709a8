"""The dispatcher's bookkeeping, one defect each, on fakeredis with fake workers.

Each test scripts the interleaving that once lost, stranded or wrongly failed a task
(``tests/dispatcher/test_model.py`` searches the rest).
"""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest
from redis.exceptions import ResponseError

from faas.config import Settings
from faas.models import TaskStatus
from faas.protocol import Heartbeat
from faas.store import STATS_KEY, Outcome, Requeued, Running, Store
from tests.fakes import frames, intake, make, register, report, status


@pytest.fixture
def settings() -> Settings:
    return Settings(max_attempts=3, heartbeat_s=1.0, heartbeat_timeout_s=3.0, backlog=4)


@pytest.fixture(autouse=True)
async def _group(store: Store) -> None:
    await store.ensure_group()


async def test_a_full_function_cache_never_fails_a_live_task(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    """Once more than 1 024 functions were cached, the cache used to be wiped: tasks in the
    same read whose function had been cached ended FAILED ("not registered")."""
    settings = Settings(backlog=2000, function_cache_bytes=64)
    d = make(fake_server, settings)
    register(d, "w", processes=1)
    functions = [await store.register_function(f"f{i}", b"x" * 20) for i in range(1100)]
    task_ids = [await store.submit(f, b"args") for f in functions]
    await intake(d, 2000)
    assert len(d.code) >= 1000 or d.code.bytes <= 64  # pinned by live tasks
    done = 0
    while frames_sent := frames(d, "w"):
        for frame in frames_sent:
            for task in frame.tasks:
                report(d, "w", task)
                done += 1
        await d.flush()
    assert done == 1100
    statuses = [(await status(store, t))[b"status"] for t in task_ids]
    assert statuses == [b"COMPLETED"] * 1100
    await d.housekeep(claim=False)
    assert d.code.bytes <= 64  # nothing live: trimmed back under its bound


async def test_a_late_report_from_a_lost_worker_is_stale(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A worker declared lost reports late: its LOST must not requeue, and its FAILED must
    not fail, the task now running on another worker; the other's load stays right."""
    d = make(fake_server, settings)
    register(d, "a")
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    [first] = frames(d, "a")[0].tasks
    register(d, "b")
    d.workers["a"].last_seen -= 10
    d.expire()  # "a" declared lost: the task goes to "b"
    [second] = frames(d, "b")[0].tasks
    assert second.attempt == 2 and d.load("b") == 1
    report(d, "a", first, "LOST")
    report(d, "a", first, "FAILED", b"timeout on a hung worker")
    await d.flush()
    assert d.inflight[task_id].worker == "b" and d.load("b") == 1
    assert d.stale_reports == 2 and not d.backlog
    assert (await status(store, task_id))[b"status"] == b"RUNNING"
    await d.housekeep(claim=False)
    await d.flush()  # the count goes through the writer
    assert await store.redis.hget(STATS_KEY, "stale") == b"2"
    report(d, "b", second)
    await d.flush()
    record = await status(store, task_id)
    assert record[b"status"] == b"COMPLETED" and record[b"result"] == b"ok"


async def test_push_reconciles_a_frame_lost_on_the_way(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A TASKS frame lost across a reconnect used to leave its task RUNNING forever on a
    live push worker: heartbeats carried ``held``, but push never compared it."""
    d = make(fake_server, settings)
    register(d, "w")
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    frames(d, "w")  # lost
    d.handle(b"w", Heartbeat([], 0))  # sent before the frame could arrive: no verdict
    assert task_id in d.inflight
    answer = d.outboxes["w"].pop()
    assert isinstance(answer, Heartbeat) and answer.seen >= d.inflight[task_id].seq
    d.handle(b"w", Heartbeat([], answer.seen))  # the worker saw what came after it
    [again] = frames(d, "w")[0].tasks
    assert again.task_id == task_id and again.attempt == 2 and again.fn == b"code"


async def test_a_restarted_dispatcher_adopts_what_its_workers_still_run(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """Entries resumed after a restart used to go straight back to the backlog and run
    again; now the worker that holds them adopts them, and nothing is retried."""
    outboxes: dict = {}
    d = make(fake_server, settings, outboxes=outboxes)
    register(d, "w", processes=2)
    f = await store.register_function("f", b"code")
    ids = [await store.submit(f, b"args") for _ in range(2)]
    await intake(d)
    held = frames(d, "w")[0].tasks
    await d.flush()
    restarted = make(fake_server, settings, outboxes=outboxes)  # same name: resumes
    await restarted._resume()
    assert set(restarted.resumed) == set(ids) and not restarted.backlog
    report(restarted, "w", held[0])  # handed in before re-registering: it counts
    register(restarted, "w", processes=2, held=[[held[1].task_id, 1]])
    assert restarted.inflight[held[1].task_id].worker == "w"
    report(restarted, "w", held[1])
    await restarted.flush()
    assert not restarted.resumed and not restarted.backlog and not restarted.inflight
    for task_id in ids:
        record = await status(store, task_id)
        assert record[b"status"] == b"COMPLETED" and record[b"attempts"] == b"1"
    assert not frames(restarted, "w")


@pytest.mark.parametrize("hands_in_first", [False, True], ids=["re-registers", "reports"])
async def test_a_task_sent_just_before_a_crash_is_adopted_not_run_twice(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings, hands_in_first: bool
) -> None:
    """A dispatcher killed after sending a task but before its RUNNING mark was written
    left an entry that looked never handed out: the restart gave it to the first worker to
    register, while the worker that held it was still running it (a retry in the
    kill-dispatcher fault run). Now every resumed entry waits for its worker to adopt it
    or hand in its result, and is marked RUNNING at the attempt the worker runs."""
    outboxes: dict = {}
    d = make(fake_server, settings, outboxes=outboxes)
    register(d, "holder", processes=1)
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    [sent] = frames(d, "holder")[0].tasks  # no flush: the RUNNING mark dies with d
    assert (await status(store, task_id))[b"status"] == b"QUEUED"
    restarted = make(fake_server, settings, outboxes=outboxes)
    await restarted._resume()
    register(restarted, "other", processes=1)
    restarted.dispatch()
    assert not frames(restarted, "other")  # held back, not handed to the first comer
    if not hands_in_first:
        register(restarted, "holder", processes=1, held=[[task_id, sent.attempt]])
        assert restarted.inflight[task_id].worker == "holder"
    report(restarted, "holder", sent)
    await restarted.flush()
    record = await status(store, task_id)
    assert (record[b"status"], record[b"attempts"]) == (b"COMPLETED", b"1")
    assert not (restarted.resumed or restarted.unmarked or restarted.inflight)
    assert restarted.stale_reports == 0
    restarted.resume_until = 0.0
    await restarted.release_resumed()
    assert not frames(restarted, "other") and not frames(restarted, "holder")


async def test_the_writer_keeps_a_batch_through_a_transient_error(
    fake_server: fakeredis.FakeServer,
    store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch used to leave the write queue before Redis took it; READONLY (a failover)
    then dropped the outcome and killed the dispatcher."""
    d = make(fake_server, settings)
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    [task] = await d.store.read_queue(d.name, 1, None)
    real = d.store.write_batch
    failures = iter(
        [
            ResponseError("READONLY You can't write against a read only replica."),
            ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
        ]
    )

    async def flaky(writes, mode=""):
        error = next(failures, None)
        if error is not None:
            raise error
        return await real(writes, mode)

    monkeypatch.setattr(d.store, "write_batch", flaky)
    d.write(Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"r"))
    await d.flush()
    assert (await status(store, task_id))[b"status"] == b"COMPLETED"
    assert not d._writes


async def test_a_real_bug_in_a_write_still_stops_the_dispatcher(
    fake_server: fakeredis.FakeServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make(fake_server, settings)

    async def broken(writes, mode=""):
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind")

    monkeypatch.setattr(d.store, "write_batch", broken)
    d.write(Outcome("t", "0-1", TaskStatus.COMPLETED, b"r"))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await d.flush()
    assert len(d._writes) == 1  # kept, not dropped


async def test_redis_restarted_empty_recreates_the_group(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """After FLUSHALL, XREADGROUP answers NOGROUP; the dispatcher used to exit for good."""
    d = make(fake_server, settings)
    await d.store.ensure_group()
    await store.redis.flushall()
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")  # the stream comes back, without its group
    tasks = await d._retrying(lambda: d.store.read_queue(d.name, 10, None))
    assert [t.task_id for t in tasks] == [task_id]


async def test_a_deleted_function_fails_its_waiting_tasks(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """DELETE /functions/{id} used to stop nothing: the dispatcher ran queued tasks from its
    cache. Waiting tasks now end FAILED, and so do tasks read after the delete."""
    d = make(fake_server, settings)
    register(d, "w", processes=1)
    f = await store.register_function("f", b"code")
    running, waiting = [await store.submit(f, b"args") for _ in range(2)]
    await intake(d)
    assert running in d.inflight and waiting in d.backlog
    await store.delete_function(f)
    await d.housekeep(claim=False)
    await d.flush()
    record = await status(store, waiting)
    assert record[b"status"] == b"FAILED" and b"not registered" in record[b"result"]
    assert running in d.inflight  # already running: it finishes
    assert f not in d.code and not d.workers["w"].known_functions


async def test_requeue_counts_a_retry_once_however_often_it_is_sent(store: Store) -> None:
    f = await store.register_function("f", b"code")
    await store.submit(f, b"args")
    [task] = await store.read_queue("d", 1, None)
    await store.write_batch([Requeued(task.task_id, 1)])
    await store.write_batch([Requeued(task.task_id, 1)])  # sent again after an error
    assert await store.redis.hget(STATS_KEY, "retries") == b"1"
    await store.write_batch([Requeued(task.task_id, 2)])
    assert await store.redis.hget(STATS_KEY, "retries") == b"2"


async def test_renew_does_not_take_back_an_entry_taken_over(store: Store) -> None:
    """``renew`` used XCLAIM with idle 0: it took back entries another dispatcher had
    already taken over after our lease lapsed."""
    await store.ensure_group()
    f = await store.register_function("f", b"code")
    await store.submit(f, b"args")
    [task] = await store.read_queue("slow", 1, None)
    [taken], _ = await store.claim_stale("other", min_idle_ms=0)
    assert await store.renew("slow", [task.entry_id]) == {task.entry_id}
    [pending] = await store.redis.xpending_range("faas:queue", "dispatchers", "-", "+", 10)
    assert pending["consumer"] == b"other"
    assert await store.renew("other", [taken.entry_id]) == set()


async def test_a_stale_outcome_never_ends_a_task(store: Store) -> None:
    """The store's last line of defence: an outcome of an earlier attempt is refused while
    a later attempt runs, and the queue entry stays."""
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    [task] = await store.read_queue("d", 1, None)
    await store.write_batch([Running(task_id, 2, "b", time.time())])
    stale = Outcome(task_id, task.entry_id, TaskStatus.FAILED, b"late", attempt=1)
    assert await store.write_batch([stale]) == [-1]
    assert await store.redis.xlen("faas:queue") == 1
    current = Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"ok", attempt=2)
    assert await store.write_batch([current]) == [1]
    assert await store.redis.xlen("faas:queue") == 0


async def test_a_worker_without_the_code_gets_it_again(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A worker that evicted (or never got) a function reports NOCODE: the task was never
    run, so it goes out again, with the code, at the same attempt."""
    d = make(fake_server, settings)
    register(d, "w", processes=1)
    f = await store.register_function("f", b"code")
    first_id, second_id = [await store.submit(f, b"args") for _ in range(2)]
    await intake(d)
    [first] = frames(d, "w")[0].tasks
    assert first.fn == b"code"
    report(d, "w", first)
    [second] = frames(d, "w")[0].tasks
    assert second.task_id == second_id and second.fn == b""  # it was sent the code already
    report(d, "w", second, "NOCODE")
    [again] = frames(d, "w")[0].tasks
    assert again.task_id == second_id and again.fn == b"code" and again.attempt == 1


async def test_a_task_sent_back_for_its_code_after_the_delete_fails(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """Found by the model test: a NOCODE report for a function deleted meanwhile sent the
    task out again without code, for ever."""
    d = make(fake_server, settings)
    register(d, "w", processes=1)
    f = await store.register_function("f", b"code")
    first_id, second_id, waiting_id = [await store.submit(f, b"args") for _ in range(3)]
    await intake(d)
    [first] = frames(d, "w")[0].tasks
    report(d, "w", first)
    [second] = frames(d, "w")[0].tasks
    await store.delete_function(f)
    await d.housekeep(claim=False)  # the waiting task fails; the code leaves the cache
    assert f not in d.code and second_id in d.inflight
    report(d, "w", second, "NOCODE")
    await d.flush()
    assert not frames(d, "w") and not d.backlog and not d.inflight
    for task_id in (second_id, waiting_id):
        record = await status(store, task_id)
        assert record[b"status"] == b"FAILED" and b"not registered" in record[b"result"]


async def test_the_loop_takes_tasks_from_redis_to_workers_and_outcomes_back(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """``run``: intake reads the queue, dispatch sends, the writer records outcomes,
    housekeeping publishes the state; a stop withdraws it."""
    d = make(fake_server, settings)
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run(stop))
    register(d, "w", processes=2)
    f = await store.register_function("f", b"code")
    task_ids = [await store.submit(f, b"args") for _ in range(5)]
    done: list[str] = []
    async with asyncio.timeout(10):
        while len(done) < 5:
            for frame in frames(d, "w"):
                for task in frame.tasks:
                    report(d, "w", task, payload=task.task_id.encode())
                    done.append(task.task_id)
            await asyncio.sleep(0.01)
        while {(await status(store, t))[b"status"] for t in task_ids} != {b"COMPLETED"}:
            await asyncio.sleep(0.01)
        while await store.health() is None:
            await asyncio.sleep(0.01)
    assert sorted(done) == sorted(task_ids)
    assert [(await store.result(t))[1] for t in task_ids] == [t.encode() for t in task_ids]
    assert (await store.health()).workers == 1
    stop.set()
    await asyncio.wait_for(loop, 10)
    assert await store.health() is None and d.inflight == {} and len(d.backlog) == 0


async def test_a_result_of_an_earlier_attempt_on_the_same_worker_is_stale(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A worker can hold two attempts of one task (declared lost while running the first,
    given the task again later): the first attempt's result must not settle the second."""
    d = make(fake_server, settings)
    register(d, "a")
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    [first] = frames(d, "a")[0].tasks
    d.workers["a"].last_seen -= 10
    d.expire()  # "a" silent: lost; the task goes to "b", which dies too
    register(d, "b")
    [second] = frames(d, "b")[0].tasks
    d.workers["b"].last_seen -= 10
    d.expire()
    register(d, "a", held=[[task_id, first.attempt]])  # back, still running attempt 1
    [third] = frames(d, "a")[0].tasks
    assert (first.attempt, second.attempt, third.attempt) == (1, 2, 3)
    report(d, "a", first, payload=b"from attempt 1")
    assert d.inflight[task_id].task.attempts == 3 and d.stale_reports == 1
    report(d, "a", third, payload=b"from attempt 3")
    await d.flush()
    assert (await status(store, task_id))[b"result"] == b"from attempt 3"


async def test_a_task_lost_max_attempts_times_fails_and_goes_out_no_more(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    d = make(fake_server, settings)
    register(d, "w")
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    attempts = []
    while sent := frames(d, "w"):
        [task] = sent[0].tasks
        attempts.append(task.attempt)
        report(d, "w", task, "LOST")
    await d.flush()
    assert attempts == [1, 2, 3] and not d.ours(task_id)
    record = await status(store, task_id)
    assert record[b"status"] == b"FAILED" and b"dispatched 3 times" in record[b"result"]


async def test_a_resend_for_the_code_repeats_its_attempt_once_only(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """The attempt that never ran (NOCODE) goes out again with the same number; a loss
    after that counts: the next dispatch is one more."""
    d = make(fake_server, settings)
    register(d, "w")
    f = await store.register_function("f", b"code")
    task_id = await store.submit(f, b"args")
    await intake(d)
    [first] = frames(d, "w")[0].tasks
    report(d, "w", first, "NOCODE")
    [resent] = frames(d, "w")[0].tasks
    report(d, "w", resent, "LOST")
    [retried] = frames(d, "w")[0].tasks
    assert (first.attempt, resent.attempt, retried.attempt) == (1, 1, 2)
    assert d.inflight[task_id].task.attempts == 2


async def test_no_worker_is_declared_lost_while_redis_kept_the_dispatcher_from_listening(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A dispatcher stuck on Redis did not read its socket: a worker's silence then proves
    nothing until the dispatcher has listened for a full heartbeat timeout again."""
    d = make(fake_server, settings)
    register(d, "w")
    d.workers["w"].last_seen -= 10
    d.redis_failed_at = time.monotonic()  # Redis just failed us
    d.expire()
    assert "w" in d.workers
    d.redis_failed_at -= 2 * settings.heartbeat_timeout_s
    d.expire()
    assert "w" not in d.workers


async def test_an_error_handling_a_message_is_logged_and_the_books_repaired(
    fake_server: fakeredis.FakeServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug met while handling one message must not stop the dispatcher: the error is
    logged, the books are made consistent, the next messages are handled, and a task the
    error dropped from the books comes back when its lease lapses."""
    from faas.protocol import ResultMsg, Results

    d = make(fake_server, Settings(claim_lease_s=0.0, backlog=4))
    register(d, "w", processes=2)
    f = await store.register_function("f", b"code")
    broken, fine = [await store.submit(f, b"args") for _ in range(2)]
    await intake(d)
    sent = {t.task_id: t for t in frames(d, "w")[0].tasks}

    def bug(*args: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(d.durations, "observe", bug)
    t = sent[broken]
    d.handle_safely(b"w", Results([ResultMsg(broken, t.entry_id, 1, "COMPLETED", b"r", 1, 2)]))
    assert broken not in d.inflight and set(d.assigned["w"]) == set(d.inflight) == {fine}
    monkeypatch.undo()
    report(d, "w", sent[fine])  # the next message is handled
    await d.flush()
    assert (await status(store, fine))[b"status"] == b"COMPLETED"
    await d.housekeep(claim=True)  # not renewed: taken back, dispatched again
    [again] = frames(d, "w")[0].tasks
    assert (again.task_id, again.attempt) == (broken, 2)
