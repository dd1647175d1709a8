"""What every dispatcher mode shares: take queued work, hand it out, record outcomes.

::

    Redis stream ──read/claim──▶ backlog ──send()──▶ processes (pool or workers)
         ▲                                                     │
         └──────── finish (check-and-set, ack) ◀── record() ◀──┘ results, or "lost"

The loop is a few named steps, each a coroutine: ``_intake`` (read the durable queue while
there is room), ``serve`` (the mode's own: receive results and worker messages),
``_housekeeping`` (publish state for /health, renew our claims, take over stale claims of
dead dispatchers) and ``_expiry`` (declare silent workers lost). Modes override only how
a task reaches a process: ``start``, ``serve``, ``free_slots``, ``send``, ``state``,
``close`` (and ``expire``).

A task is dispatched at most ``max_attempts`` times; a lost task (dead worker or process)
goes back to QUEUED and to the front of the backlog, and after its last attempt ends FAILED
with a ``RuntimeError`` that names the worker and the attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from faas.config import Settings
from faas.executor import error_payload
from faas.models import DispatcherState, Task, TaskStatus, WorkerInfo
from faas.store import Outcome, Requeued, Running, Store
from faas.worker.pool import JobResult

log = logging.getLogger(__name__)

T = TypeVar("T")
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
_MAX_CACHED_FUNCTIONS = 1024


def default_name(mode: str, port: int) -> str:
    """A consumer name stable across restarts, so a restarted dispatcher resumes its work."""
    return f"{socket.gethostname()}:{mode}:{port}"


class Dispatcher(ABC):
    """The shared loop; subclasses decide how tasks reach processes."""

    mode: ClassVar[str]

    def __init__(self, store: Store, settings: Settings, name: str) -> None:
        self.store = store
        self.settings = settings
        self.name = name
        self.backlog: deque[Task] = deque()
        self.inflight: dict[str, tuple[Task, str]] = {}
        #: In-flight tasks per worker.
        self.load: Counter[str] = Counter()
        self.functions: dict[str, bytes | None] = {}
        self._room = asyncio.Event()
        self._writes: list[Running | Requeued | Outcome] = []
        self._writes_ready = asyncio.Event()
        #: When Redis last failed us: while we could not work, workers could not be heard.
        self.redis_failed_at = -float("inf")

    # -- what a mode provides ---------------------------------------------------------------

    @abstractmethod
    async def start(self) -> None:
        """Start the pool or bind the socket."""

    @abstractmethod
    async def serve(self) -> None:
        """Receive results and messages until cancelled."""

    @abstractmethod
    def free_slots(self) -> int:
        """Tasks that can be handed out right now."""

    @abstractmethod
    async def send(self, tasks: Sequence[Task]) -> list[tuple[Task, str]]:
        """Hand tasks (at most ``free_slots()``) to processes; answer (task, worker) for each
        one handed out. Tasks not handed out go back to the front of the backlog."""

    @abstractmethod
    def state(self) -> DispatcherState:
        """What /health shows about this dispatcher."""

    def capacity(self) -> int:
        """Tasks to claim at most: those running, plus a backlog deep enough that short tasks
        never wait on a Redis round trip (claims are leased and renewed, so a backlog held
        here is not lost if we die)."""
        processes = self.state().processes
        return processes + max(processes, self.settings.backlog) if processes else 0

    def worker_info(self) -> list[WorkerInfo]:
        """Live workers and their load (none in local mode)."""
        return []

    async def expire(self) -> None:  # noqa: B027 - optional hook
        """Declare silent workers lost (modes with remote workers)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the pool or socket."""

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or a step fails), then shut down cleanly."""
        await self._retrying(self.store.ensure_group)
        await self.start()
        log.info("dispatcher %s (%s) started", self.name, self.mode)
        steps = [asyncio.create_task(s) for s in (self._intake(), self.serve(), self._writer(),
                                                  self._housekeeping(), self._expiry())]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *steps], return_when=asyncio.FIRST_COMPLETED)
            for step in done - {stopper}:
                step.result()  # re-raise the error that ended a step
        finally:
            for step in [stopper, *steps]:
                step.cancel()
            await asyncio.gather(stopper, *steps, return_exceptions=True)
            await self.close()
            with contextlib.suppress(*_REDIS_DOWN):  # what the writer had not applied yet
                await self.store.write_batch(self._writes, self.mode)
            with contextlib.suppress(*_REDIS_DOWN):
                await self.store.clear_dispatcher()
            log.info("dispatcher %s stopped", self.name)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis call until it succeeds, backing off while Redis is unreachable."""
        delay = 0.05
        while True:
            try:
                return await call()
            except _REDIS_DOWN as e:
                self.redis_failed_at = time.monotonic()
                log.warning("redis unreachable (%s); retrying in %.2fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _intake(self) -> None:
        """Resume our own unfinished entries, then read new tasks while there is room."""
        await self._accept(await self._retrying(lambda: self.store.read_own_pending(self.name)))
        while True:
            room = self.capacity() - len(self.backlog) - len(self.inflight)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            tasks = await self._retrying(
                lambda n=room: self.store.read_queue(self.name, min(n, 500), block_ms=500))
            await self._accept(tasks, fresh=True)

    async def _accept(self, tasks: list[Task], fresh: bool = False) -> None:
        """Put claimed tasks in the backlog (or fail the ones that cannot run) and dispatch.
        ``fresh``: never delivered before, so none can be ours already."""
        if not tasks:
            return
        missing = {t.function_id for t in tasks} - self.functions.keys()
        if missing:
            if len(self.functions) > _MAX_CACHED_FUNCTIONS:
                self.functions.clear()
            self.functions.update(await self._retrying(lambda: self.store.functions(missing)))
        held = set() if fresh else {t.task_id for t in self.backlog} | self.inflight.keys()
        for task in tasks:
            if task.task_id in held:
                continue  # already ours (a claim of our own entry)
            if self.functions.get(task.function_id) is None:
                error = LookupError(f"function {task.function_id} is not registered")
                self.write(self._outcome(task, TaskStatus.FAILED, error_payload(error)))
            elif task.attempts >= self.settings.max_attempts:
                self.write(self._lost_outcome(task, "an earlier dispatcher's worker"))
            else:
                self.backlog.append(task)
        await self.dispatch()

    async def dispatch(self) -> None:
        """Hand backlog tasks to free processes; their RUNNING marks go to the writer."""
        n = min(self.free_slots(), len(self.backlog))
        if n <= 0:
            return
        tasks = [self.backlog.popleft() for _ in range(n)]
        for task in tasks:
            task.attempts += 1
        dispatched = time.time()
        assigned = await self.send(tasks)
        handed = {task.task_id for task, _ in assigned}
        unsent = [task for task in tasks if task.task_id not in handed]
        for task in unsent:
            task.attempts -= 1
        self.backlog.extendleft(reversed(unsent))
        for task, worker in assigned:
            self.inflight[task.task_id] = (task, worker)
            self.load[worker] += 1
            self.write(Running(task, worker, dispatched))

    async def record(self, worker: str, results: Sequence[JobResult]) -> None:
        """Take outcomes reported by ``worker``: refill the freed processes first, then hand
        the outcomes to the writer; retry or fail lost tasks."""
        outcomes, lost = [], []
        for r in results:
            task = self.take(r.task_id)
            if r.lost:
                if task is not None:
                    lost.append((task, worker))
                continue
            entry = task.entry_id if task else r.tag
            outcomes.append(Outcome(r.task_id, entry, r.status, r.payload, r.started,
                                    r.finished, worker))
        self._room.set()
        await self.dispatch()  # processes never wait on Redis
        self.write(*outcomes)
        if lost:
            await self.retry_lost(lost)

    async def retry_lost(self, lost: Sequence[tuple[Task, str]]) -> None:
        """Requeue tasks whose worker or process died, or fail those out of attempts."""
        for task, worker in lost:
            log.warning("task %s lost on worker %s (attempt %d of %d)", task.task_id, worker,
                        task.attempts, self.settings.max_attempts,
                        extra={"task_id": task.task_id, "worker_id": worker})
            if task.attempts < self.settings.max_attempts:
                self.write(Requeued(task))
                self.backlog.appendleft(task)
            else:
                self.write(self._lost_outcome(task, worker))
        if lost:
            await self._retrying(lambda: self.store.add_event(
                "task_lost", worker=lost[0][1], tasks=len(lost)))
        self._room.set()
        await self.dispatch()

    async def worker_lost(self, worker: str) -> None:
        """Every task ``worker`` held is lost."""
        lost = [(t, w) for t, w in self.inflight.values() if w == worker]
        for task, _ in lost:
            self.take(task.task_id)
        del self.load[worker]
        await self.retry_lost(lost)

    def take(self, task_id: str) -> Task | None:
        """Remove a task from the in-flight set (None if it is not there)."""
        task, worker = self.inflight.pop(task_id, (None, None))
        if task is not None:
            self.load[worker] -= 1
        return task

    def write(self, *writes: Running | Requeued | Outcome) -> None:
        """Queue writes for the writer, which applies them in order, batched."""
        if writes:
            self._writes.extend(writes)
            self._writes_ready.set()

    async def _writer(self) -> None:
        """Apply queued writes, as many as have gathered, in one round trip each time."""
        while True:
            await self._writes_ready.wait()
            self._writes_ready.clear()
            batch, self._writes = self._writes, []
            flags = await self._retrying(lambda b=batch: self.store.write_batch(b, self.mode))
            outcomes = [w for w in batch if isinstance(w, Outcome)]
            for outcome, fresh in zip(outcomes, flags, strict=True):
                if not fresh:
                    log.info("dropped duplicate result of task %s", outcome.task_id,
                             extra={"task_id": outcome.task_id, "worker_id": outcome.worker})

    def _outcome(self, task: Task, status: TaskStatus, payload: bytes) -> Outcome:
        return Outcome(task.task_id, task.entry_id, status, payload, finished=time.time())

    def _lost_outcome(self, task: Task, worker: str) -> Outcome:
        error = RuntimeError(f"worker lost: task {task.task_id} was dispatched {task.attempts} "
                             f"times and its worker was lost each time (last: {worker})")
        return self._outcome(task, TaskStatus.FAILED, error_payload(error))

    async def _housekeeping(self) -> None:
        """Every heartbeat: publish state, renew our claims, take over stale ones."""
        lease_s = self.settings.claim_lease_s
        next_claim = time.monotonic() + lease_s / 2
        while True:
            try:
                await self.store.publish_dispatcher(self.state(), 3 * self.settings.heartbeat_s,
                                                    self.worker_info())
                held = [t.entry_id for t in self.backlog] + [t.entry_id for t, _ in
                                                             self.inflight.values()]
                await self.store.renew(self.name, held)
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + lease_s / 2
                    await self._accept(await self.store.claim_stale(self.name,
                                                                    int(lease_s * 1000)))
            except _REDIS_DOWN as e:
                self.redis_failed_at = time.monotonic()
                log.warning("housekeeping: redis unreachable (%s)", e)
            await asyncio.sleep(self.settings.heartbeat_s)

    async def _expiry(self) -> None:
        """Four times a heartbeat: declare silent workers lost."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s / 4)
            await self.expire()
