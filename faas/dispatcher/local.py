"""Local mode: the dispatcher runs tasks in its own pool of processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence

from faas.config import Settings
from faas.dispatcher.base import Dispatcher
from faas.dispatcher.books import Assignment
from faas.models import DispatcherState, Mode, Task
from faas.store import Store
from faas.worker.pool import Job, ProcessPool

WORKER = "local"


class LocalDispatcher(Dispatcher):
    """Hands tasks straight to a :class:`ProcessPool`; the event loop watches its pipes."""

    mode = Mode.LOCAL

    def __init__(self, store: Store, settings: Settings, name: str, processes: int) -> None:
        super().__init__(store, settings, name)
        self.processes = processes
        self.pool: ProcessPool | None = None
        self._ready = asyncio.Event()
        self._watched: list[int] = []
        self._generation = -1

    async def start(self) -> None:
        self.pool = await asyncio.to_thread(
            ProcessPool, self.processes, self.settings.max_result_bytes
        )
        self._watch()

    def _pool(self) -> ProcessPool:
        if self.pool is None:
            raise RuntimeError("the local dispatcher's pool is used before start()")
        return self.pool

    def _watch(self) -> None:
        """(Re)register the pool's pipes and sentinels with the event loop."""
        loop = asyncio.get_running_loop()
        for fd in self._watched:
            loop.remove_reader(fd)
        self._watched = self._pool().fds()
        for fd in self._watched:
            loop.add_reader(fd, self._ready.set)
            # uvloop makes watched fds non-blocking; we only want readiness, and the pool
            # writes large jobs to these pipes with blocking writes.
            os.set_blocking(fd, True)
        self._generation = self._pool().generation

    async def serve(self) -> None:
        pool = self._pool()
        while True:
            deadline = pool.next_deadline()
            wait_s = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=min(wait_s, 1.0))
            self._ready.clear()
            results = pool.collect(0)
            if pool.generation != self._generation:
                self._watch()
            if results:
                self.on_results(WORKER, results)

    def free_slots(self) -> int:
        return self.pool.free if self.pool else 0

    def send(self, tasks: Sequence[Task]) -> list[Assignment]:
        pool = self._pool()
        for task in tasks:
            pool.submit(
                Job(
                    task.task_id,
                    task.function_id,
                    self.code.get(task.function_id) or b"",
                    task.args,
                    task.timeout_s or self.settings.task_timeout_s,
                    task.entry_id,
                    task.attempts,
                )
            )
        if pool.generation != self._generation:  # a dead process was replaced
            self._watch()
        return [Assignment(task, WORKER) for task in tasks]

    def state(self) -> DispatcherState:
        return DispatcherState(mode=self.mode, workers=0, processes=self.processes)

    async def close(self) -> None:
        if self.pool:
            loop = asyncio.get_running_loop()
            for fd in self._watched:
                loop.remove_reader(fd)
            await asyncio.to_thread(self.pool.close)
