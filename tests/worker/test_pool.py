"""faas/worker/pool.py: the pool's bookkeeping with real processes (2 of them, forkserver)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dill
import pytest

from faas.models import TaskStatus
from faas.worker.pool import Job, JobResult, ProcessPool
from tests import functions


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    pool = ProcessPool(2, max_result_bytes=1000)
    yield pool
    pool.close()


def _job(task_id: str, fn, *args, timeout_s: float = 0.0) -> Job:
    code = dill.dumps(fn, recurse=True)
    return Job(task_id, fn.__name__, code, dill.dumps((args, {})), timeout_s, f"e-{task_id}", 7)


def _collect(pool: ProcessPool, n: int, timeout_s: float = 20.0) -> dict[str, JobResult]:
    results: dict[str, JobResult] = {}
    deadline = time.monotonic() + timeout_s
    while len(results) < n and time.monotonic() < deadline:
        results.update({r.task_id: r for r in pool.collect(0.1)})
    assert len(results) == n, results
    return results


def test_results_carry_the_job_entry_and_attempt_and_free_the_process(
    pool: ProcessPool,
) -> None:
    assert pool.free == 2
    pool.submit(_job("a", functions.add, 1, 2))
    pool.submit(_job("b", functions.echo, "x"))
    assert pool.free == 0
    results = _collect(pool, 2)
    assert {t: dill.loads(r.payload) for t, r in results.items()} == {"a": 3, "b": "x"}
    assert {(r.entry_id, r.attempt, r.status) for r in results.values()} == {
        ("e-a", 7, TaskStatus.COMPLETED),
        ("e-b", 7, TaskStatus.COMPLETED),
    }
    assert all(r.started <= r.finished for r in results.values())
    assert pool.free == 2


def test_a_dying_process_loses_only_its_own_job_and_is_replaced(pool: ProcessPool) -> None:
    generation = pool.generation
    pool.submit(_job("dies", functions.exit_process, 3))
    pool.submit(_job("lives", functions.sleep_for, 0.3))
    results = _collect(pool, 2)
    assert results["dies"].lost and results["dies"].status is None
    assert (results["dies"].entry_id, results["dies"].attempt) == ("e-dies", 7)
    assert not results["lives"].lost and results["lives"].status is TaskStatus.COMPLETED
    assert pool.generation == generation + 1 and pool.size == 2 and pool.free == 2
    pool.submit(_job("after", functions.add, 2, 2))  # the replacement serves
    assert dill.loads(_collect(pool, 1)["after"].payload) == 4


def test_a_job_past_its_timeout_fails_and_its_process_is_replaced(pool: ProcessPool) -> None:
    pool.submit(_job("slow", functions.sleep_for, 30, timeout_s=0.3))
    assert pool.next_deadline() is not None
    result = _collect(pool, 1)["slow"]
    assert result.status is TaskStatus.FAILED and not result.lost
    assert isinstance(dill.loads(result.payload), TimeoutError)
    assert pool.next_deadline() is None and pool.free == 2


def test_a_result_over_the_limit_fails_the_task(pool: ProcessPool) -> None:
    pool.submit(_job("big", functions.echo, "x" * 5000))
    result = _collect(pool, 1)["big"]
    assert result.status is TaskStatus.FAILED
    assert isinstance(dill.loads(result.payload), ValueError)


def test_a_closing_pool_starts_nothing_and_replaces_no_process() -> None:
    pool = ProcessPool(1)
    try:
        pool.closing = True
        assert pool.free == 0
        pool._slots[0].process.kill()
        pool._slots[0].process.join(5)
        assert pool.collect(1.0) == []  # an idle death: nothing to report
        assert pool._slots[0].dead and pool.fds() == []
    finally:
        pool.close()


def test_collect_reads_only_what_the_callers_poller_found_ready(pool: ProcessPool) -> None:
    """A worker polls the pool's descriptors together with its socket and hands the ready
    ones in, so the pool does not wait on every pipe again."""
    import select

    pool.submit(_job("p", functions.add, 20, 22))
    deadline = time.monotonic() + 20
    ready: set[int] = set()
    while not ready and time.monotonic() < deadline:
        ready = set(select.select(pool.fds(), [], [], 0.1)[0])
    assert pool.collect(ready_fds=set()) == []  # nothing handed in: nothing read
    [result] = pool.collect(ready_fds=ready)
    assert (result.task_id, dill.loads(result.payload)) == ("p", 42)
