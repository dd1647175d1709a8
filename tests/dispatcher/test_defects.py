"""Eight proven defects of the dispatcher, the store and the worker, and the suspected ones
that proved real: one test each, written to fail on the code before its fix.

Each scripts the interleaving or the input that broke an invariant of the failure model
(``tests/dispatcher/test_model.py`` searches for the rest). The fakes replace sockets and
workers; the dispatcher, the store's scripts and the pool are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import dill
import fakeredis
import pytest

from faas.config import Settings
from faas.durations import Durations
from faas.models import TaskStatus
from faas.protocol import Heartbeat, Request, ResultMsg, Results, TaskMsg
from faas.store import GROUP, QUEUE_KEY, STATS_KEY, Outcome, Running, Store
from faas.worker.pool import Job, ProcessPool
from tests import functions
from tests.fakes import FakePull, frames, intake, make, register, status


@pytest.fixture
def settings() -> Settings:
    return Settings(max_attempts=3, heartbeat_s=1.0, heartbeat_timeout_s=3.0, backlog=4)


@pytest.fixture(autouse=True)
async def _group(store: Store) -> None:
    await store.ensure_group()


async def _submit(store: Store, n: int, code: bytes = b"code") -> list[str]:
    f = await store.register_function("f", code)
    return [await store.submit(f, b"args") for _ in range(n)]


def _lost(task: TaskMsg) -> Results:
    return Results([ResultMsg(task.task_id, task.entry_id, task.attempt, "LOST")])


# -- 1. two workers vanish together ---------------------------------------------------------


async def test_two_workers_unreachable_in_one_send_keep_the_dispatcher_and_the_tasks(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """``send`` planned a batch for each of two workers; the first send failed, dropping
    its worker, whose retry dispatched again and dropped the second; the outer loop then
    built a frame for the second, gone: ``KeyError``, and the dispatcher exited."""
    d = make(fake_server, settings)
    register(d, "w1")
    register(d, "w2")
    d.unreachable |= {"w1", "w2"}
    ids = await _submit(store, 3)
    await intake(d)
    assert not d.workers and not d.inflight and not d.assigned
    assert sorted(t.task_id for t in d.backlog) == sorted(ids)
    assert {t.attempts for t in d.backlog} == {0}  # none went out: no attempt counted
    register(d, "w3", processes=3)
    sent = [t for f in frames(d, "w3") for t in f.tasks]
    assert sorted(t.task_id for t in sent) == sorted(ids) and {t.attempt for t in sent} == {1}


# -- 2. a surviving worker's result of the latest attempt, after a crash ---------------------


@pytest.mark.parametrize("hands_in_first", [False, True], ids=["re-registers", "reports"])
async def test_the_latest_attempt_is_taken_after_a_crash_lost_its_marks(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings, hands_in_first: bool
) -> None:
    """Attempt 1 LOST, attempt 2 sent, the dispatcher SIGKILLed before its writer applied
    either (Redis: RUNNING, attempts 1). The restart resumed the entry as marked; the
    worker holding attempt 2 was adopted without a mark, and FINISH refused attempt 2
    against the stored 1: the task left the books, stayed RUNNING and ran again later."""
    outboxes: dict = {}
    d = make(fake_server, settings, outboxes=outboxes)
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    await d.flush()  # RUNNING, attempt 1, in Redis
    [first] = frames(d, "w")[0].tasks
    d.handle(b"w", _lost(first))
    [second] = frames(d, "w")[0].tasks
    assert second.attempt == 2  # sent; nothing flushed: the dispatcher dies here
    restarted = make(fake_server, settings, outboxes=outboxes)
    await restarted._resume()
    done = Results([ResultMsg(task_id, second.entry_id, 2, "COMPLETED", b"ok")])
    if hands_in_first:
        restarted.handle(b"w", done)
        register(restarted, "w")
    else:
        register(restarted, "w", held=[[task_id, 2]])
        restarted.handle(b"w", done)
    await restarted.flush()
    record = await status(store, task_id)
    assert (record[b"status"], record[b"result"]) == (b"COMPLETED", b"ok")
    assert record[b"attempts"] == b"2" and restarted.stale_reports == 0
    assert not (restarted.resumed or restarted.backlog or restarted.inflight)


async def test_a_takeover_by_another_name_takes_the_latest_attempt(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """The same defect through a takeover: a dispatcher of another name claims the entry
    (attempts 1 in Redis) while the surviving worker holds attempt 2."""
    d = make(fake_server, settings, outboxes={})
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    await d.flush()
    [first] = frames(d, "w")[0].tasks
    d.handle(b"w", _lost(first))
    [second] = frames(d, "w")[0].tasks
    other = make(fake_server, settings, name="d1", outboxes={})
    await other.accept((await other.store.claim_stale(other.name, 0))[0])
    register(other, "w", held=[[task_id, second.attempt]])
    assert other.inflight[task_id].task.attempts == 2 and not frames(other, "w")
    other.handle(b"w", Results([ResultMsg(task_id, second.entry_id, 2, "COMPLETED", b"ok")]))
    await other.flush()
    record = await status(store, task_id)
    assert (record[b"status"], record[b"attempts"]) == (b"COMPLETED", b"2")


# -- 3. Redis rolled back redelivers an entry in flight --------------------------------------


async def test_an_entry_redelivered_after_a_rollback_is_not_taken_twice(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A failover to a lagging replica rewinds the group: ``XREADGROUP >`` delivers an
    entry in flight again. It went to the backlog too, ``assign`` overwrote ``inflight``
    and left the first assignment: the worker's loss then raised ``KeyError``."""
    d = make(fake_server, settings)
    register(d, "w1")
    register(d, "w2")
    [task_id] = await _submit(store, 1)
    await intake(d)
    holder = d.inflight[task_id].worker
    await store.redis.xgroup_setid(QUEUE_KEY, GROUP, "0")  # the replica's older state
    await intake(d)
    assert task_id not in d.backlog and d.inflight[task_id].worker == holder
    assert sum(d.load(w) for w in ("w1", "w2")) == 1
    d.workers[holder].last_seen -= 10
    d.expire()  # the holder is lost: the task goes to the other worker, once
    other = ({"w1", "w2"} - {holder}).pop()
    assert d.inflight[task_id].worker == other and d.load(other) == 1


# -- 4. a pool process that died while idle --------------------------------------------------


def test_a_pool_process_dead_while_idle_does_not_fail_the_submit() -> None:
    """``submit`` to a process that died idle and was not reaped yet raised
    ``BrokenPipeError``: the local dispatcher, or a remote worker, exited."""
    pool = ProcessPool(1)
    try:
        victim = pool._slots[0].process
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        code = dill.dumps(functions.add, recurse=True)
        pool.submit(Job("t", "add", code, dill.dumps(((2, 3), {})), entry_id="e", attempt=1))
        results = []
        deadline = time.monotonic() + 20
        while not results and time.monotonic() < deadline:
            results = pool.collect(0.1)
        [result] = results
        assert result.status is TaskStatus.COMPLETED and dill.loads(result.payload) == 5
        assert result.attempt == 1 and pool.size == 1
    finally:
        pool.close()


# -- 5. a LOST report while Redis is down ----------------------------------------------------


async def test_a_loss_while_redis_is_down_does_not_stop_message_handling(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """``retry_lost`` awaited its event write, ``drop_worker`` two more: one LOST report,
    or one silent worker, during an outage stopped the dispatcher reading every worker's
    results, heartbeats and registrations until Redis came back."""
    d = make(fake_server, settings)
    register(d, "a")
    register(d, "b")
    [task_id] = await _submit(store, 1)
    await intake(d)
    await d.flush()
    holder = d.inflight[task_id].worker
    [sent] = frames(d, holder)[0].tasks
    fake_server.connected = False
    d.handle(holder.encode(), _lost(sent))  # returns at once; the retry goes out
    [again] = [t for w in ("a", "b") for f in frames(d, w) for t in f.tasks]
    assert again.attempt == 2
    runner = d.inflight[task_id].worker
    d.workers[runner].last_seen -= 10
    d.redis_failed_at = -float("inf")
    d.expire()  # a silent worker is dropped without waiting on Redis either
    survivor = ({"a", "b"} - {runner}).pop()
    assert runner not in d.workers and d.inflight[task_id].worker == survivor
    assert d.inflight[task_id].task.attempts == 3
    fake_server.connected = True
    await d.flush()
    events = await store.redis.xrange("faas:events")
    assert [e[b"kind"] for _, e in events] == [b"task_lost", b"worker_lost", b"task_lost"]
    assert await store.redis.hget(STATS_KEY, "worker_lost") == b"1"


# -- 6. results labelled with the attempt the pool ran (see also tests/worker/test_base.py) --


async def test_a_result_of_attempt_0_is_not_the_dispatchers_verdict(store: Store) -> None:
    """FINISH took attempt 0 as the dispatcher's own verdict, which counts regardless: a
    worker's result labelled 0 ended a task whose attempt 2 was running."""
    [task_id] = await _submit(store, 1)
    [task] = await store.read_queue("d", 1, None)
    await store.write_batch([Running(task_id, 2, "b", time.time())])
    unlabelled = Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, b"?", worker="a", attempt=0)
    assert await store.write_batch([unlabelled]) == [-1]
    verdict = Outcome(task_id, task.entry_id, TaskStatus.FAILED, b"gone", attempt=None)
    assert await store.write_batch([verdict]) == [1]


# -- 7. writes that read the attempt at flush time -------------------------------------------


async def test_two_losses_before_one_flush_count_two_retries(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """``Requeued`` and ``Running`` held the mutable task and read its attempt when the
    writer ran: two losses before one flush counted one retry, and the marks in between
    stored the last attempt."""
    d = make(fake_server, settings)
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    for attempt in (1, 2):
        [sent] = frames(d, "w")[0].tasks
        assert sent.attempt == attempt
        d.handle(b"w", _lost(sent))
    assert [w.attempt for w in d._writes if type(w).__name__ == "Requeued"] == [1, 2]
    await d.flush()
    assert await store.redis.hget(STATS_KEY, "retries") == b"2"
    assert (await status(store, task_id))[b"attempts"] == b"3"


# -- 8. the per-function duration table ------------------------------------------------------


def test_the_duration_table_is_bounded_under_many_functions() -> None:
    """Every function ever run kept an entry: 2 000 functions, 2 000 entries."""
    durations = Durations(short_s=0.001, kept=100)
    for i in range(2000):
        durations.observe(f"f{i}", 1.0, 1.0001)
    assert len(durations) == 100
    assert durations.short("f1999") and not durations.short("f0")  # least recent out


# -- suspected, and proved --------------------------------------------------------------------


async def test_a_task_sent_back_for_its_code_keeps_its_attempt_in_the_books(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """NOCODE lowered the task's attempt in the books below the stored one: a late result
    of the previous attempt then counted as the latest, FINISH refused it (stale), and the
    task left the books while Redis kept it RUNNING."""
    d = make(fake_server, settings)
    register(d, "a")
    [task_id] = await _submit(store, 1)
    await intake(d)
    [first] = frames(d, "a")[0].tasks
    d.workers["a"].last_seen -= 10
    d.expire()  # "a" silent: lost, the task waits for another worker
    register(d, "b")
    [second] = frames(d, "b")[0].tasks
    await d.flush()  # RUNNING, attempt 2, in Redis
    d.unreachable.add("b")  # the resend does not go out: "b" is dropped, the task waits
    d.handle(b"b", Results([ResultMsg(task_id, second.entry_id, 2, "NOCODE")]))
    assert "b" not in d.workers
    late = ResultMsg(task_id, first.entry_id, 1, "COMPLETED", b"late")
    d.handle(b"a", Results([late]))  # attempt 1, from the worker declared lost
    await d.flush()
    assert task_id in d.backlog and d.stale_reports == 1
    assert (await status(store, task_id))[b"status"] == b"RUNNING"
    d.unreachable.clear()
    register(d, "c")  # the resend goes out at the attempt that never ran
    [resent] = frames(d, "c")[0].tasks
    assert (resent.attempt, resent.fn) == (2, b"code")


async def test_a_pull_worker_registering_again_drops_its_parked_request(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """A parked request outlived its worker's new registration: tasks sent to it went in
    a reply the worker (REQ, correlated) discards, and came back only as retries."""
    d = make(fake_server, settings, kind=FakePull)
    register(d, "w")
    d.handle(b"w", Request(want=1, idle=True))
    assert b"w" in d.parked
    register(d, "w")
    assert b"w" not in d.parked
    await _submit(store, 1)
    await intake(d)
    assert not frames(d, "w")  # nothing sent until the worker asks again


async def test_a_seen_from_before_a_backwards_clock_step_retries_nothing(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """Frame numbers start at the wall clock: after a backwards step a restarted dispatcher
    numbered below what its workers had seen, and every task it sent looked lost on the
    way at the next heartbeat, and ran twice."""
    d = make(fake_server, settings)
    d.seq = 1_000  # the clock stepped back
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    [sent] = frames(d, "w")[0].tasks
    d.handle(b"w", Heartbeat([], 10**15))  # seen by the previous run, sent before the frame
    assert d.inflight[task_id].task.attempts == 1 and not frames(d, "w")


async def test_resume_reads_every_own_entry(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """``read_own_pending`` read 1 000 entries: a dispatcher holding more (over 500
    processes) resumed only part; the rest ran again when its lease lapsed."""
    await _submit(store, 1500)
    assert len(await store.read_queue("d0", 1500, None)) == 1500
    tasks, running = await store.read_own_pending("d0")
    assert len(tasks) == 1500 and not running


async def test_a_batch_is_refused_whole_when_the_function_is_unknown(store: Store) -> None:
    from faas.exceptions import FunctionNotFoundError

    with pytest.raises(FunctionNotFoundError):
        await store.submit_many("nope", [b"a"] * 3)
    assert await store.redis.xlen(QUEUE_KEY) == 0


async def test_handling_a_message_never_awaits(
    fake_server: fakeredis.FakeServer, settings: Settings
) -> None:
    """Handling a message is one synchronous step: it cannot interleave with another."""
    d = make(fake_server, settings)
    assert not asyncio.iscoroutinefunction(d.handle)
    assert not asyncio.iscoroutinefunction(d.dispatch)


async def test_a_result_with_a_junk_entry_id_does_not_stop_the_writer(
    fake_server: fakeredis.FakeServer, store: Store, settings: Settings
) -> None:
    """Found on the way: FINISH acknowledged the entry id the worker's report named; a junk
    one (a rogue or broken worker) made Redis refuse the whole batch as a non-transient
    error, and the dispatcher exited. The record's own entry is acknowledged now."""
    d = make(fake_server, settings)
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    [sent] = frames(d, "w")[0].tasks
    d.handle(b"w", Results([ResultMsg("not-a-task", "junk", 1, "COMPLETED", b"x")]))
    d.handle(b"w", Results([ResultMsg(task_id, "junk", sent.attempt, "COMPLETED", b"ok")]))
    await d.flush()
    assert (await status(store, task_id))[b"status"] == b"COMPLETED"
    assert await store.redis.xlen(QUEUE_KEY) == 0  # the record's entry, acknowledged


async def test_a_claim_read_before_an_outcome_was_written_does_not_run_the_task_again(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    """Found by the model test: a takeover claimed our own entry (its lease lapsed while
    Redis was away), the writer applied the task's outcome during the claim's awaits, and
    the claim then put the finished task back in the backlog: it ran twice."""
    d = make(fake_server, Settings(claim_lease_s=0.0, backlog=4))
    register(d, "w")
    [task_id] = await _submit(store, 1)
    await intake(d)
    [sent] = frames(d, "w")[0].tasks
    d.handle(b"w", Results([ResultMsg(task_id, sent.entry_id, 1, "COMPLETED", b"ok")]))
    claimed, _ = await d.store.claim_stale(d.name, 0)  # read while the outcome is queued
    await d.flush()  # ... and applied before the claim goes on
    await d.accept(claimed)
    assert not d.backlog and not d.inflight and not frames(d, "w")
