"""Start a pull or push worker (the ``faas worker`` command)."""

from __future__ import annotations

import signal

from faas.config import Settings
from faas.models import Mode
from faas.process import freeze_heap


def run_worker(mode: Mode | str, processes: int, url: str, settings: Settings) -> int:
    """Run a worker of ``mode`` until it is stopped; answer its exit code."""
    if processes < 1:
        raise SystemExit(f"faas worker: processes must be at least 1, got {processes}")
    from faas.worker.base import Worker

    WorkerClass: type[Worker]
    if mode == Mode.PULL:
        from faas.worker.pull import PullWorker as WorkerClass
    elif mode == Mode.PUSH:
        from faas.worker.push import PushWorker as WorkerClass
    else:
        choices = " or ".join(Mode.remote())
        raise SystemExit(f"faas worker: unknown mode {mode!r}: choose {choices}")
    stops: list[int] = []  # a SIGINT/SIGTERM while the pool starts is kept, not fatal
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stops.append(signum))
    worker = WorkerClass(processes, url, settings)
    if stops:
        worker.stopping = True  # run() then stops at once, exit 0
    freeze_heap()
    return worker.run()
