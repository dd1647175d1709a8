"""What every dispatcher mode shares: take queued work, hand it out, record outcomes.

::

    Redis stream ──read/claim──▶ backlog ──send()──▶ processes (pool or workers)
         ▲                                                        │
         └── writer: finish (check-and-set, ack) ◀── on_results() ◀┘ results, or "lost"

Before serving, ``_resume`` takes back our own unfinished entries (a restart). The loop is
then a few named steps, each a coroutine: ``_intake`` (read the durable queue while there
is room), ``serve`` (the mode's own: receive results and worker messages), ``_writer``
(apply RUNNING marks, requeues, outcomes, events and counters to Redis in order, batched,
keeping each batch until Redis took it), ``_housekeeping`` (publish state for /health, renew
our claims, take over stale claims of dead dispatchers, notice deleted functions) and
``_expiry`` (declare silent workers lost, release resumed entries nobody adopted). Modes
override only how a task reaches a process: ``start``, ``serve``, ``free_slots``, ``send``,
``state``, ``close`` (and ``expire``).

Only Redis is awaited. Handling a message, dispatching, retrying a lost task and dropping a
worker change the books in one synchronous step: sends are non-blocking, and every write
they cause goes to the writer's queue. So no two of them interleave, and none waits on
Redis: during an outage the dispatcher keeps handing out what it holds and keeps hearing
its workers. What can interleave is an await on Redis (reading the queue, loading code,
renewing claims, the writer's round trip) with any of them; the model test
(``tests/dispatcher/test_model.py``) schedules every such await.

Bookkeeping rules (checked after every step by ``tests/dispatcher/test_model.py``):

- a task is in exactly one of ``backlog``, ``inflight`` or ``resumed`` while it is ours;
- a worker's load is the number of its assignments (``assigned[worker]``);
- a report settles a task only if it comes from the task's current assignee and attempt
  (``settle``); any other report is stale: counted, logged and dropped. In Redis the
  outcome write is guarded by the attempt too, so a stale result never ends a task;
- a task is dispatched at most ``max_attempts`` times; a lost task (dead worker or process)
  goes back to QUEUED and to the front of the backlog, and after its last attempt ends
  FAILED with a ``RuntimeError`` that names the worker and the attempts;
- a write holds the values of the moment it was queued (``faas.store.queue``), and writes
  reach Redis in the order they were queued: a RUNNING mark lands before the outcome of the
  same attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import ClassVar, TypeVar, cast

from faas.aio import cancel_and_wait
from faas.config import Settings
from faas.dispatcher.books import Assignment, Backlog, FunctionCache
from faas.durations import Durations
from faas.executor import error_payload
from faas.models import DispatcherState, Mode, Task, TaskStatus, WorkerInfo
from faas.store import (
    Count,
    Event,
    Outcome,
    Requeued,
    Running,
    Store,
    Write,
    is_transient,
    lost_group,
)
from faas.worker.pool import JobResult

log = logging.getLogger(__name__)

T = TypeVar("T")
#: How long a stopping dispatcher keeps trying to apply its last writes, in seconds.
FINAL_FLUSH_S = 5.0
#: Pages of stale claims looked at in one takeover round (each ``claim_stale`` call).
CLAIM_PAGES = 20
#: Task ids remembered as finished (far more than can finish during one claim's awaits).
FINISHED_KEPT = 65_536


def default_name(mode: Mode | str, port: int) -> str:
    """A consumer name stable across restarts, so a restarted dispatcher resumes its work."""
    return f"{socket.gethostname()}:{mode}:{port}"


class Dispatcher(ABC):
    """The shared loop; subclasses decide how tasks reach processes."""

    mode: ClassVar[Mode]
    #: Whether workers outlive this dispatcher (remote modes): then a restarted dispatcher
    #: holds back the entries it had handed out, for their workers to adopt.
    workers_survive: ClassVar[bool] = False

    def __init__(self, store: Store, settings: Settings, name: str) -> None:
        self.store = store
        self.settings = settings
        self.name = name
        self.backlog = Backlog()
        self.inflight: dict[str, Assignment] = {}
        #: Assignments per worker: its load is ``len(assigned[worker])``.
        self.assigned: dict[str, dict[str, Assignment]] = {}
        #: Our own entries found RUNNING at start, held back until ``resume_until`` for the
        #: workers that run them to re-register and adopt them.
        self.resumed: dict[str, Task] = {}
        #: Of those, the ones whose RUNNING mark the previous run never wrote.
        self.unmarked: set[str] = set()
        self.resume_until = 0.0
        self.code = FunctionCache(settings.function_cache_bytes)
        #: Execution times per function: short ones may wait at a worker (faas/durations.py).
        self.durations = Durations(settings.prefetch_short_ms / 1000)
        #: Reports that settled nothing (a lost worker's, an earlier attempt's).
        self.stale_reports = 0
        self._stale_counted = 0  # of those, added to the ``stale`` counter in Redis
        self._room = asyncio.Event()
        self._writes: list[Write] = []
        #: Tasks whose outcome is queued for the writer and not applied yet, with their
        #: entries: still ours (renewed, never claimed again) until Redis has the outcome.
        self.finishing: dict[str, str] = {}
        #: Tasks whose outcome the writer applied lately: a claim read before that write
        #: (its awaits let the writer run) must not dispatch them again.
        self.finished: OrderedDict[str, None] = OrderedDict()
        #: Where the next scan for stale claims starts (see ``Queue.claim_stale``).
        self._claim_from = "0-0"
        #: writes ever queued and ever applied: a write queued as number n is in Redis once
        #: ``writes_applied >= n`` (push acknowledges results by it)
        self.writes_queued = self.writes_applied = 0
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
    def send(self, tasks: Sequence[Task]) -> list[Assignment]:
        """Hand tasks (at most ``free_slots()``) to processes without blocking; answer an
        assignment for each one handed out. Tasks not handed out go back to the front of the
        backlog."""

    @abstractmethod
    def state(self) -> DispatcherState:
        """What /health shows about this dispatcher."""

    def capacity(self) -> int:
        """Tasks to claim at most: those running, plus a backlog deep enough that short tasks
        never wait on a Redis round trip (claims are leased and renewed, so a backlog held
        here is not lost if we die)."""
        processes = self.state().processes
        return processes + max(processes, self.settings.backlog) if processes else 0

    def queued_per_process(self, task: Task | None) -> int:
        """How many tasks like ``task`` may wait at a worker per process, beyond the ones
        running: one if its function is short, else none."""
        return 1 if task is not None and self.durations.short(task.function_id) else 0

    def worker_info(self) -> list[WorkerInfo]:
        """Live workers and their load (none in local mode)."""
        return []

    def forget_function(self, function_id: str) -> None:  # noqa: B027 - optional hook
        """A function was deleted: drop what the mode keeps of it (remote: who has it)."""

    def expire(self) -> None:  # noqa: B027 - optional hook
        """Declare silent workers lost (modes with remote workers)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the pool or socket."""

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or a step fails), then shut down cleanly."""
        await self._retrying(self.store.ensure_group)
        await self.start()
        await self._resume()  # before serving: a worker that registers finds them to adopt
        log.info("dispatcher %s (%s) started", self.name, self.mode)
        steps = [
            asyncio.create_task(s)
            for s in (
                self._intake(),
                self.serve(),
                self._writer(),
                self._housekeeping(),
                self._expiry(),
            )
        ]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *steps], return_when=asyncio.FIRST_COMPLETED)
            for step in done - {stopper}:
                step.result()  # re-raise the error that ended a step
        finally:
            await cancel_and_wait(stopper, *steps)
            await asyncio.gather(stopper, *steps, return_exceptions=True)
            await self.close()
            try:  # what the writer had not applied yet (a cancelled batch is still queued)
                await asyncio.wait_for(self.flush(), FINAL_FLUSH_S)
            except (TimeoutError, Exception) as e:
                log.error(
                    "stopping with %d write(s) not applied (%s); their tasks stay "
                    "pending in the queue and run again",
                    len(self._writes),
                    e,
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.store.clear_dispatcher(), 1.0)
            log.info("dispatcher %s stopped", self.name)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis call until it succeeds, backing off on every transient error (Redis
        unreachable, loading, read-only, out of memory, scripts or consumer group lost);
        any other error is a bug and propagates."""
        delay = 0.05
        while True:
            try:
                return await call()
            except Exception as e:
                if not is_transient(e):
                    raise
                await self._redis_trouble(e)
                log.warning("redis: %s; retrying in %.2fs", e, delay)
                await self.pause(delay)
                delay = min(delay * 2, 2.0)

    async def pause(self, seconds: float) -> None:
        """Back off for ``seconds`` (the model test schedules it as one more step)."""
        await asyncio.sleep(seconds)

    async def _redis_trouble(self, error: Exception) -> None:
        """Note a transient Redis error; recreate the consumer group if Redis lost it."""
        self.redis_failed_at = time.monotonic()
        if lost_group(error):
            log.warning(
                "the queue's consumer group is gone (Redis lost its data); creating it again"
            )
            with contextlib.suppress(Exception):
                await self.store.ensure_group()

    def room(self) -> int:
        """Tasks we may still claim."""
        return self.capacity() - len(self.backlog) - len(self.inflight) - len(self.resumed)

    async def _intake(self) -> None:
        """Read new tasks while there is room."""
        while True:
            if self.room() <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            await self.intake_once(block_ms=500)

    async def intake_once(self, block_ms: int | None) -> None:
        """Claim what the queue holds, up to the room we have (waiting up to ``block_ms``)."""
        n = min(self.room(), 500)
        if n > 0:
            tasks = await self._retrying(
                lambda: self.store.read_queue(self.name, n, block_ms=block_ms)
            )
            await self.accept(tasks)

    async def _resume(self) -> None:
        """Take back the entries a previous run of ours left unfinished. When workers outlive
        us, every one of them is held back for a heartbeat timeout plus a heartbeat: their
        workers re-register and adopt them (or hand in their results) instead of running them
        again. That includes entries not marked RUNNING, for the previous run may have sent
        a task and died before its mark was written."""
        tasks, running = await self._retrying(lambda: self.store.read_own_pending(self.name))
        if self.workers_survive and tasks:
            self.resume_until = (
                time.monotonic() + self.settings.heartbeat_timeout_s + self.settings.heartbeat_s
            )
            self.resumed = {task.task_id: task for task in tasks}
            self.unmarked = {task.task_id for task in tasks} - running
            log.info(
                "resumed %d entries (%d marked RUNNING), held back for their workers to adopt",
                len(tasks),
                len(running),
            )
            return
        await self.accept(tasks)

    async def release_resumed(self) -> None:
        """Resumed entries nobody adopted in time go to the front of the backlog (their code
        is loaded first, while they are still held)."""
        if not self.resumed or time.monotonic() < self.resume_until:
            return
        gone = await self._load_functions({t.function_id for t in self.resumed.values()})
        tasks, self.resumed, self.unmarked = list(self.resumed.values()), {}, set()
        if tasks:
            log.info("%d resumed entries were not adopted; dispatching them again", len(tasks))
            self._admit(tasks, gone, front=True)

    def unresume(self, task_id: str) -> Task | None:
        """Take a task out of the resumed entries (adopted, finished or gone)."""
        self.unmarked.discard(task_id)
        return self.resumed.pop(task_id, None)

    def latest(self, task: Task, attempt: int, worker: str) -> bool:
        """Whether ``attempt`` is the latest dispatch of a waiting task. Its recorded attempt
        can lag behind what a worker runs: a dead dispatcher (ours before a restart, or the
        one we took it over from) may have dispatched it again without its RUNNING mark
        reaching Redis. A later attempt than we know is therefore the latest; it is marked
        now, so that the store takes what its worker reports."""
        if attempt > task.attempts:
            self.unmarked.discard(task.task_id)
            task.attempts, task.resend = attempt, False
            self.write(Running(task.task_id, attempt, worker, time.time()))
        return task.attempts == attempt

    def ours(self, task_id: str) -> bool:
        """Whether the task is in our books (waiting, resumed, assigned, or its outcome
        waiting for the writer)."""
        return (
            task_id in self.backlog
            or task_id in self.inflight
            or task_id in self.resumed
            or task_id in self.finishing
        )

    async def accept(self, tasks: list[Task], front: bool = False) -> None:
        """Put claimed tasks in the backlog (or fail the ones that cannot run) and dispatch;
        tasks already ours (an entry delivered again, a claim of our own) are skipped.
        ``front``: they waited already, so they go before the others."""
        if tasks:
            gone = await self._load_functions({t.function_id for t in tasks})
            self._admit(tasks, gone, front)

    def _admit(self, tasks: list[Task], gone: set[str], front: bool = False) -> None:
        """The synchronous half of ``accept``, once the code is loaded."""
        accepted = []
        for task in tasks:
            if self.ours(task.task_id) or task.task_id in self.finished:
                continue
            if task.function_id in gone:
                self.write(self._unregistered(task))
            elif task.attempts >= self.settings.max_attempts:
                self.write(self._lost_outcome(task, "an earlier dispatcher's worker"))
            else:
                accepted.append(task)
        if front:
            self.backlog.extendleft(accepted)
        else:
            for task in accepted:
                self.backlog.append(task)
        self.code.trim(self.needed_functions())
        self.dispatch()

    async def _load_functions(self, function_ids: set[str]) -> set[str]:
        """Fetch the code we lack and check that the functions we hold are still registered,
        in one round trip; answer the ids that are not registered (any more)."""
        missing = {f for f in function_ids if f not in self.code}
        cached = function_ids - missing
        payloads, existing = await self._retrying(
            lambda: self.store.lookup_functions(missing, cached)
        )
        for function_id, code in payloads.items():
            if code is not None:
                self.code.put(function_id, code)
        gone = {f for f, code in payloads.items() if code is None} | (cached - existing)
        for function_id in cached - existing:
            self._function_deleted(function_id)
        return gone

    def _function_deleted(self, function_id: str) -> None:
        """Forget a deleted function and fail the tasks still waiting for it."""
        log.info("function %s was deleted; failing its waiting tasks", function_id)
        self.code.drop(function_id)
        self.durations.forget(function_id)
        self.forget_function(function_id)
        for task in self.backlog:
            if task.function_id == function_id:
                self.backlog.remove(task.task_id)
                self.write(self._unregistered(task))
        for task in list(self.resumed.values()):
            if task.function_id == function_id:
                self.unresume(task.task_id)
                self.write(self._unregistered(task))

    def needed_functions(self) -> set[str]:
        """Functions of every task in our books: the cache must keep these."""
        return {t.function_id for t in self._held_tasks()}

    def dispatch(self) -> None:
        """Hand backlog tasks to free processes; their RUNNING marks go to the writer."""
        n = min(self.free_slots(), len(self.backlog))
        if n <= 0:
            return
        tasks = []
        for task in (self.backlog.popleft() for _ in range(n)):
            if task.function_id in self.code:
                tasks.append(task)
            else:  # deleted while the task waited (e.g. sent back for want of code)
                self.write(self._unregistered(task))
        for task in tasks:
            task.attempts += _step(task)
        dispatched = time.time()
        assignments = self.send(tasks)
        handed = {a.task.task_id for a in assignments}
        unsent = [task for task in tasks if task.task_id not in handed]
        for task in unsent:
            task.attempts -= _step(task)
        self.backlog.extendleft(unsent)
        for a in assignments:
            a.task.resend = False
            self.assign(a)
            self.write(Running(a.task.task_id, a.task.attempts, a.worker, dispatched))

    def assign(self, assignment: Assignment) -> None:
        """Put a task in the books as running on its worker."""
        self.inflight[assignment.task.task_id] = assignment
        self.assigned.setdefault(assignment.worker, {})[assignment.task.task_id] = assignment

    def unassign(self, task_id: str) -> Assignment:
        """Take an assigned task out of the books."""
        assignment = self.inflight.pop(task_id)
        held = self.assigned.get(assignment.worker, {})
        held.pop(task_id, None)
        if not held:
            self.assigned.pop(assignment.worker, None)
        return assignment

    def load(self, worker: str) -> int:
        """Tasks assigned to ``worker`` and not reported yet."""
        return len(self.assigned.get(worker, ()))

    def settle(self, worker: str, report: JobResult) -> tuple[bool, Task | None]:
        """Whether ``report`` counts, and the task it takes out of our books.

        It counts if it comes from the task's current assignee and attempt; or, for a task
        waiting in the backlog or resumed (its worker was declared lost, or it was dispatched
        by a dispatcher now dead), if it is a final result of its latest attempt; or, for a
        task not in our books, if it is a final result (the store still checks its
        attempt). Anything else is stale, and so is a report of no attempt at all (0)."""
        task_id, final = report.task_id, not (report.lost or report.nocode)
        assignment = self.inflight.get(task_id)
        if report.attempt < 1:
            pass
        elif assignment is not None:
            if assignment.worker == worker and assignment.task.attempts == report.attempt:
                return True, self.unassign(task_id).task
        else:
            waiting = self.backlog.get(task_id) or self.resumed.get(task_id)
            if waiting is None and final:
                return True, None
            if waiting is not None and final and self.latest(waiting, report.attempt, worker):
                self.backlog.remove(task_id)
                self.unresume(task_id)
                return True, waiting
        self.stale_reports += 1
        log.info(
            "stale report of task %s (attempt %d) from %s dropped",
            task_id,
            report.attempt,
            worker,
            extra={"task_id": task_id, "worker_id": worker},
        )
        return False, None

    def on_results(self, worker: str, results: Sequence[JobResult]) -> None:
        """Take outcomes reported by ``worker``: refill the freed processes first, then hand
        the outcomes to the writer; retry or fail lost tasks."""
        outcomes, lost = [], []
        for r in results:
            counts, task = self.settle(worker, r)
            if not counts:
                continue
            if r.nocode and task is not None:  # never ran for want of the code: send it again
                self.forget_known(worker, task.function_id)
                task.resend = True
                self.backlog.appendleft(task)
            elif r.lost and task is not None:  # not final: it counts only with its task
                lost.append((task, worker))
            else:
                outcomes.append(self._reported(worker, r, task))
        self._room.set()
        self.dispatch()  # processes never wait on Redis
        self.write(*outcomes)
        if lost:
            self.retry_lost(lost)

    def _reported(self, worker: str, r: JobResult, task: Task | None) -> Outcome:
        """The outcome a worker's final result asks the writer to record."""
        if task is not None:
            self.durations.observe(task.function_id, r.started, r.finished)
        entry = task.entry_id if task else r.entry_id
        status = cast(TaskStatus, r.status)  # a final result has one
        return Outcome(
            r.task_id, entry, status, r.payload, r.started, r.finished, worker, r.attempt
        )

    def forget_known(self, worker: str, function_id: str) -> None:  # noqa: B027 - hook
        """``worker`` does not have ``function_id`` (remote modes track who has what)."""

    def retry_lost(self, lost: Sequence[tuple[Task, str]]) -> None:
        """Requeue tasks whose worker or process died, or fail those out of attempts."""
        for task, worker in lost:
            log.warning(
                "task %s lost on worker %s (attempt %d of %d)",
                task.task_id,
                worker,
                task.attempts,
                self.settings.max_attempts,
                extra={"task_id": task.task_id, "worker_id": worker},
            )
            if task.attempts < self.settings.max_attempts:
                self.write(Requeued(task.task_id, task.attempts))
                self.backlog.appendleft(task)
            else:
                self.write(self._lost_outcome(task, worker))
        if lost:
            self.event("task_lost", worker=lost[0][1], tasks=len(lost))
        self._room.set()
        self.dispatch()

    def worker_lost(self, worker: str) -> None:
        """Every task ``worker`` held is lost."""
        tasks = [self.unassign(task_id).task for task_id in list(self.assigned.get(worker, ()))]
        self.retry_lost([(task, worker) for task in tasks])

    def write(self, *writes: Write) -> None:
        """Queue writes for the writer, which applies them in order, batched."""
        if writes:
            for w in writes:
                if isinstance(w, Outcome):
                    self.finishing[w.task_id] = w.entry_id
            self._writes.extend(writes)
            self.writes_queued += len(writes)
            self._writes_ready.set()

    def event(self, kind: str, **fields: str | int | float) -> None:
        """Queue an entry for the events stream."""
        self.write(Event(kind, tuple(fields.items()), time.time()))

    async def _writer(self) -> None:
        """Apply queued writes, as many as have gathered, in one round trip each time."""
        while True:
            await self._writes_ready.wait()
            self._writes_ready.clear()
            await self.flush()

    async def flush(self) -> None:
        """Apply every queued write. A batch leaves the queue only once Redis applied it
        (every write is idempotent, so one sent again after an error does no harm)."""
        while self._writes:
            batch = list(self._writes)
            flags = await self._retrying(partial(self.store.write_batch, batch, self.mode))
            del self._writes[: len(batch)]
            self.writes_applied += len(batch)
            outcomes = [w for w in batch if isinstance(w, Outcome)]
            for outcome, flag in zip(outcomes, flags, strict=True):
                if self.finishing.get(outcome.task_id) == outcome.entry_id:
                    del self.finishing[outcome.task_id]
                if flag >= 0:  # the task has its outcome in Redis
                    self._remember_finished(outcome.task_id)
                if flag <= 0:
                    self._dropped(outcome, flag)

    def _remember_finished(self, task_id: str) -> None:
        self.finished[task_id] = None
        if len(self.finished) > FINISHED_KEPT:
            self.finished.popitem(last=False)

    def _dropped(self, outcome: Outcome, flag: int) -> None:
        """Log an outcome the store refused: a duplicate (0) or a stale attempt (-1)."""
        why = "duplicate" if flag == 0 else "stale"
        self.stale_reports += flag < 0
        log.info(
            "dropped %s result of task %s (attempt %s)",
            why,
            outcome.task_id,
            outcome.attempt,
            extra={"task_id": outcome.task_id, "worker_id": outcome.worker},
        )

    def _outcome(self, task: Task, status: TaskStatus, payload: bytes) -> Outcome:
        return Outcome(task.task_id, task.entry_id, status, payload, finished=time.time())

    def _unregistered(self, task: Task) -> Outcome:
        error = LookupError(f"function {task.function_id} is not registered")
        return self._outcome(task, TaskStatus.FAILED, error_payload(error))

    def _lost_outcome(self, task: Task, worker: str) -> Outcome:
        error = RuntimeError(
            f"worker lost: task {task.task_id} was dispatched {task.attempts} "
            f"times and its worker was lost each time (last: {worker})"
        )
        return self._outcome(task, TaskStatus.FAILED, error_payload(error))

    async def housekeep(self, claim: bool) -> None:
        """Publish state, renew our claims, notice deleted functions, and (``claim``) take
        over stale claims of dead dispatchers."""
        await self.store.publish_dispatcher(
            self.state(), 3 * self.settings.heartbeat_s, self.worker_info()
        )
        if self.stale_reports > self._stale_counted:
            self.write(Count("stale", self.stale_reports - self._stale_counted))
            self._stale_counted = self.stale_reports
        held = {t.entry_id: t for t in self._held_tasks()}
        entries = [*held, *(e for e in self.finishing.values() if e not in held)]
        for entry in await self.store.renew(self.name, entries):
            if entry in held:
                self._disown(held[entry])
        waiting = {t.function_id for t in [*self.backlog, *self.resumed.values()]}
        if waiting:
            await self._load_functions(waiting)
        self.code.trim(self.needed_functions())
        if claim:
            await self.take_over()

    async def take_over(self) -> None:
        """Claim entries whose owner's lease lapsed (a dead dispatcher's), one scan round."""
        lease_ms = int(self.settings.claim_lease_s * 1000)
        for _ in range(CLAIM_PAGES):
            tasks, self._claim_from = await self.store.claim_stale(
                self.name, lease_ms, self._claim_from
            )
            await self.accept(tasks)
            if self._claim_from == "0-0":
                return

    def _held_tasks(self) -> list[Task]:
        return [*self.backlog, *self.resumed.values(), *(a.task for a in self.inflight.values())]

    def _disown(self, task: Task) -> None:
        """Our claim on a waiting task is gone (finished, or another dispatcher took it over
        after our lease lapsed): stop holding it. An assigned task stays assigned: its
        worker still runs it, and the store checks the attempt of what it reports."""
        if self.backlog.remove(task.task_id) or self.unresume(task.task_id):
            log.info("task %s is no longer ours; dropped from the backlog", task.task_id)

    def repair(self) -> None:
        """Make the books consistent again after an unexpected error left a step half done:
        each task in one place (assigned first, then resumed, then waiting) and each
        worker's load its assignments. A task the error dropped from the books is not
        renewed, so its entry comes back through a takeover once its lease lapses."""
        for task_id in self.inflight:
            self.backlog.remove(task_id)
            self.unresume(task_id)
        for task_id in self.resumed:
            self.backlog.remove(task_id)
        self.assigned = {}
        for task_id, a in self.inflight.items():
            self.assigned.setdefault(a.worker, {})[task_id] = a

    async def _housekeeping(self) -> None:
        """Every heartbeat: publish state, renew our claims, take over stale ones."""
        lease_s = self.settings.claim_lease_s
        next_claim = time.monotonic() + lease_s / 2
        while True:
            claim = time.monotonic() >= next_claim
            if await self.housekeep_safely(claim) and claim:
                next_claim = time.monotonic() + lease_s / 2
            await asyncio.sleep(self.settings.heartbeat_s)

    async def housekeep_safely(self, claim: bool) -> bool:
        """One round of ``housekeep``; False if a transient Redis error cut it short (any
        other error is a bug and propagates)."""
        try:
            await self.housekeep(claim)
            return True
        except Exception as e:
            if not is_transient(e):
                raise
            await self._redis_trouble(e)
            log.warning("housekeeping: redis: %s", e)
            return False

    async def _expiry(self) -> None:
        """Four times a heartbeat: declare silent workers lost, release resumed entries."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s / 4)
            self.expire()
            await self.release_resumed()


def _step(task: Task) -> int:
    """How much a dispatch adds to a task's attempts: nothing for a resend of a dispatch
    that never ran (NOCODE), else one."""
    return 0 if task.resend else 1
