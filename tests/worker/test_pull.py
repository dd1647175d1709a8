"""faas/worker/pull.py and base.py: a real pull worker (2 processes), its socket replaced by
a list of what it sends."""

from __future__ import annotations

import time
from collections.abc import Callable

import dill
import pytest

from faas.protocol import Register, Request, ResultMsg, TaskMsg, Tasks, Welcome
from faas.worker.pull import PullWorker, _Exchange
from tests import functions

RESULT = ResultMsg("t0", "0-0", 1, "COMPLETED", b"r")
CODE = dill.dumps(functions.sleep_for, recurse=True)


@pytest.fixture
def worker(make_worker: Callable[[type], PullWorker]) -> PullWorker:
    return make_worker(PullWorker)


def _task(task_id: str, code: bytes = CODE, seconds: float = 5.0) -> TaskMsg:
    return TaskMsg(task_id, f"e-{task_id}", 1, "sleep", code, dill.dumps(((seconds,), {})))


def test_registers_first_then_asks_for_its_free_processes(worker: PullWorker) -> None:
    x = _Exchange()
    assert worker._maybe_send(None, x) and isinstance(worker.sent[-1], Register)
    assert x.sent_at is not None
    assert worker._on_reply(Welcome(1.0).encode(), x) is None
    assert x.registered and x.sent_at is None
    worker._maybe_send(None, x)
    request = worker.sent[-1]
    assert isinstance(request, Request) and (request.want, request.idle) == (2, True)


def test_held_tasks_shape_the_request_and_the_registration(worker: PullWorker) -> None:
    x = _Exchange(registered=True, results=[RESULT])
    worker._on_reply(Tasks([_task("t1"), _task("t2")], 9).encode(), x)
    assert set(worker.held) == {"t1", "t2"} and worker.want() == 0 and worker.seen == 9
    worker._maybe_send(None, x)
    request = worker.sent[-1]
    assert (request.want, request.idle, sorted(request.held)) == (0, False, ["t1", "t2"])
    assert request.results == [RESULT] and request.seen == 9
    assert x.results == [] and x.in_request == [RESULT]
    x.give_up()  # no reply: register again, hand the results in afterwards
    assert x.results == [RESULT] and not x.registered
    assert sorted(worker.register_message().held) == [["t1", 1], ["t2", 1]]


def test_a_task_without_code_is_reported_nocode_not_run(worker: PullWorker) -> None:
    worker.accept(Tasks([_task("t1", code=b"")], 3))
    assert worker.held == {} and worker.want() == 2
    assert [(r.task_id, r.status, r.attempt) for r in worker.nocode] == [("t1", "NOCODE", 1)]


def test_a_busy_worker_that_got_nothing_backs_off_until_work_comes(worker: PullWorker) -> None:
    x = _Exchange(registered=True)
    worker._on_reply(Tasks([_task("t1")], 1).encode(), x)
    x.asked_for = 1
    worker._on_reply(Tasks([], 2).encode(), x)
    assert x.backoff.delay_s > 0
    worker._on_reply(Tasks([_task("t2")], 3).encode(), x)
    assert x.backoff.delay_s == 0 and x.backoff.ready


def test_nothing_is_sent_while_there_is_nothing_to_say(worker: PullWorker) -> None:
    x = _Exchange(registered=True)
    worker.accept(Tasks([_task("t1"), _task("t2")], 1))
    x.last_request = time.monotonic()  # no heartbeat due, no results, no free process
    assert worker._maybe_send(None, x) and worker.sent == []
    x.last_request -= 1.0  # a heartbeat is due
    worker._maybe_send(None, x)
    assert isinstance(worker.sent[-1], Request) and worker.sent[-1].want == 0


def test_a_worker_whose_tasks_are_short_asks_for_room_to_queue_as_many_again(
    worker: PullWorker,
) -> None:
    assert worker.want() == 2  # nothing seen yet: only the free processes
    short = ResultMsg("t0", "0-0", 1, "COMPLETED", b"r", started=5.0, finished=5.0002)
    worker.durations.observe("", short.started, short.finished)
    assert worker.want() == 4
    worker.accept(Tasks([_task("t1"), _task("t2"), _task("t3")], 4))  # 2 run, 1 queued
    assert worker.pool.free == 0 and len(worker.queue) == 1 and worker.want() == 1
    worker.durations.observe("", 5.0, 5.5)  # a long run: the mean is long now
    assert worker.want() == 0


def test_a_finished_task_updates_the_workers_runtime_estimate(worker: PullWorker) -> None:
    worker.accept(Tasks([_task("t1", seconds=0.0)], 1))
    deadline, results = time.monotonic() + 10, []
    while not results and time.monotonic() < deadline:
        results = worker.finished(worker.pool.collect(0.05))
    [result] = results
    assert result.status == "COMPLETED"
    assert worker.durations.mean_s[""] == pytest.approx(result.finished - result.started)
