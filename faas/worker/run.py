"""Start a pull or push worker (the ``faas worker`` command)."""

from __future__ import annotations

from faas.config import Settings
from faas.models import Mode


def run_worker(mode: Mode | str, processes: int, url: str, settings: Settings) -> int:
    """Run a worker of ``mode`` until it is stopped; answer its exit code."""
    if processes < 1:
        raise SystemExit(f"faas worker: processes must be at least 1, got {processes}")
    if mode == Mode.PULL:
        from faas.worker.pull import PullWorker as WorkerClass
    elif mode == Mode.PUSH:
        from faas.worker.push import PushWorker as WorkerClass
    else:
        choices = " or ".join(Mode.remote())
        raise SystemExit(f"faas worker: unknown mode {mode!r}: choose {choices}")
    return WorkerClass(processes, url, settings).run()
