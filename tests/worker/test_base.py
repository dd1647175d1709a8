"""faas/worker/base.py: what pull and push workers share, on a real worker (2 processes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faas.models import TaskStatus
from faas.protocol import Request, TaskMsg, Welcome
from faas.worker.base import Worker
from faas.worker.pool import JobResult
from faas.worker.pull import PullWorker, _Exchange
from faas.worker.push import PushWorker


def test_a_result_is_labelled_with_the_attempt_its_process_ran(
    make_worker: Callable[[type], Worker],
) -> None:
    """The worker labelled a result with the attempt it *held* for the task (a newer one
    when the task came back to it; 0 when it held none), not the attempt that ran."""
    worker = make_worker(PushWorker)
    newer = TaskMsg("t", "e", 2, "f", b"", b"args")
    worker.held["t"] = newer
    [old] = worker.finished([JobResult("t", TaskStatus.COMPLETED, b"r", 1.0, 2.0, attempt=1)])
    assert old.attempt == 1 and worker.held["t"] is newer  # attempt 2 is still to run
    [new] = worker.finished([JobResult("t", TaskStatus.COMPLETED, b"r", 3.0, 4.0, attempt=2)])
    assert new.attempt == 2 and "t" not in worker.held
    [orphan] = worker.finished([JobResult("u", TaskStatus.FAILED, b"x", 5.0, 6.0, attempt=3)])
    assert orphan.attempt == 3  # held nothing for it: still the attempt that ran


@pytest.mark.parametrize("kind", [PushWorker, PullWorker])
def test_a_worker_forgets_the_frames_it_had_seen_when_welcomed(
    make_worker: Callable[[type], Worker], kind: type[Worker]
) -> None:
    """Frame numbers start at the dispatcher's clock: a worker that kept the highest number
    of an earlier dispatcher (its clock ahead) made every task of the next look lost."""
    worker = make_worker(kind)
    worker.seen = 10**15  # from the previous dispatcher
    if kind is PushWorker:
        worker._handle(None, Welcome(1.0).encode())
    else:
        worker._on_reply(Welcome(1.0).encode(), _Exchange())
    assert worker.seen == 0
    request = Request(1, True, [], [], worker.seen)
    assert request.seen == 0
