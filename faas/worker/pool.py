"""A pool of N processes that can die and be replaced, and that knows which task each holds.

``concurrent.futures.ProcessPoolExecutor`` fails every running task when one process dies
(``BrokenProcessPool``), blaming innocent neighbours. Here each process has its own pipe and
runs one job at a time; the parent waits on the pipes and the processes' sentinels, so a
death is pinned on exactly the job that process held, and the process is replaced.

The pool never blocks its owner: ``fds()`` lists what to wait on (a zmq Poller or an asyncio
loop can watch them) and ``collect()`` returns what finished, died or timed out.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

import msgpack

from faas.executor import error_payload, execute
from faas.models import TaskStatus
from faas.process import die_with_parent

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One task for a pool process."""

    task_id: str
    function_id: str
    fn: bytes
    args: bytes
    timeout_s: float = 0.0
    #: Opaque to the pool; handed back in the result (the queue entry, for the dispatcher).
    entry_id: str = ""
    #: Which dispatch of the task this is; handed back in the result.
    attempt: int = 0


@dataclass
class JobResult:
    """What became of a job. ``lost`` means its process died: retry it elsewhere;
    ``nocode`` (remote workers only) that it never ran for want of the function's code."""

    task_id: str
    status: TaskStatus | None
    payload: bytes = b""
    started: float = 0.0
    finished: float = 0.0
    lost: bool = False
    entry_id: str = ""
    attempt: int = 0
    nocode: bool = False


@dataclass
class _Slot:
    process: mp.process.BaseProcess
    conn: Connection
    job: Job | None = None
    deadline: float = field(default=float("inf"))
    dead: bool = False


def _child_main(conn: Connection, max_result_bytes: int) -> None:
    """A pool process: run jobs from the pipe until it closes."""
    die_with_parent(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    while True:
        try:
            task_id, function_id, fn, args = msgpack.unpackb(conn.recv_bytes())
        except (EOFError, OSError):
            return
        started = time.time()
        status, payload = execute(function_id, fn, args, max_result_bytes)
        conn.send_bytes(msgpack.packb([task_id, status.value, payload, started, time.time()]))


class ProcessPool:
    """N processes, one job each at a time; dead or timed-out processes are replaced."""

    def __init__(self, processes: int, max_result_bytes: int = 0) -> None:
        self.max_result_bytes = max_result_bytes
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["faas.executor", "msgpack"])
        self._slots = [self._spawn() for _ in range(processes)]
        #: Bumped whenever a process is replaced, so watchers re-read ``fds()``.
        self.generation = 0
        #: Set when the owner is stopping: dead processes are no longer replaced (the
        #: forkserver may be gone with them) and no job is started.
        self.closing = False

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_child_main, args=(child, self.max_result_bytes), daemon=True
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    @property
    def size(self) -> int:
        """Number of processes."""
        return len(self._slots)

    @property
    def free(self) -> int:
        """Processes without a job (none once closing)."""
        return 0 if self.closing else sum(1 for s in self._slots if s.job is None)

    def submit(self, job: Job) -> None:
        """Hand ``job`` to a free process (the caller checks ``free`` first). A process that
        died while idle and is not reaped yet (its pipe is broken) is replaced first; if the
        new one dies at once too, ``collect`` reports the job lost."""
        index = next(i for i, s in enumerate(self._slots) if s.job is None)
        frame = msgpack.packb([job.task_id, job.function_id, job.fn, job.args])
        try:
            self._slots[index].conn.send_bytes(frame)
        except OSError:  # BrokenPipeError: died idle (killed, OOM), not reaped yet
            self._replace(index, lost=False)
            with contextlib.suppress(OSError):
                self._slots[index].conn.send_bytes(frame)
        slot = self._slots[index]
        slot.job = job
        slot.deadline = time.monotonic() + job.timeout_s if job.timeout_s > 0 else float("inf")

    def fds(self) -> list[int]:
        """File descriptors that become readable when ``collect`` has something."""
        live = [s for s in self._slots if not s.dead]
        return [s.conn.fileno() for s in live] + [s.process.sentinel for s in live]

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest job timeout, if any job has one."""
        deadline = min((s.deadline for s in self._slots), default=float("inf"))
        return None if deadline == float("inf") else deadline

    def collect(self, timeout: float = 0.0, ready_fds: set[int] | None = None) -> list[JobResult]:
        """Results of jobs that finished, died with their process, or ran out of time.
        ``ready_fds``: the descriptors of ``fds()`` a poller already found readable (else
        wait up to ``timeout`` for them here)."""
        if ready_fds is None:
            ready_fds = self._ready_fds(timeout)
        results, now = [], time.monotonic()
        for i, slot in enumerate(self._slots):
            if slot.dead:
                continue
            readable = slot.conn.fileno() in ready_fds
            if slot.job and readable and (result := self._receive(slot)):
                results.append(result)
            elif readable or slot.process.sentinel in ready_fds:
                results.extend(self._replace(i, lost=True))
            elif slot.job and now > slot.deadline:
                results.extend(self._replace(i, lost=False))
        return results

    def _ready_fds(self, timeout: float) -> set[int]:
        """Pipes with a result and sentinels of dead processes, waiting up to ``timeout``."""
        live = [s for s in self._slots if not s.dead]
        waitables = [s.conn for s in live if s.job] + [s.process.sentinel for s in live]
        return {w if isinstance(w, int) else w.fileno() for w in wait(waitables, timeout)}

    def _receive(self, slot: _Slot) -> JobResult | None:
        """The job's result; None if the pipe closed (the process died: see ``_replace``)."""
        try:
            frame = slot.conn.recv_bytes()
        except (EOFError, OSError):
            return None
        task_id, status, payload, started, finished = msgpack.unpackb(frame)
        job = slot.job
        if job is None:  # a process answers only the job it was given
            raise RuntimeError(f"pool process {slot.process.pid} answered with no job")
        slot.job, slot.deadline = None, float("inf")
        return JobResult(
            task_id,
            TaskStatus(status),
            payload,
            started,
            finished,
            entry_id=job.entry_id,
            attempt=job.attempt,
        )

    def _replace(self, index: int, lost: bool) -> list[JobResult]:
        """Kill (if needed) and replace a process; report the job it held."""
        slot = self._slots[index]
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(5)
        slot.conn.close()
        if self.closing:  # not replaced: the slot stays dead until close()
            self._slots[index] = _Slot(slot.process, slot.conn, dead=True)
        else:
            self._slots[index] = self._spawn()
        self.generation += 1
        if slot.job is None:
            log.warning("pool process %s exited while idle; replaced", slot.process.pid)
            return []
        return [_lost(slot, slot.job) if lost else _timed_out(slot.job)]

    def close(self) -> None:
        """Stop every process (kill any still running after a short grace)."""
        for slot in self._slots:
            slot.conn.close()
        deadline = time.monotonic() + 1.0
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(1)


def _lost(slot: _Slot, job: Job) -> JobResult:
    """The result of a job whose process died under it: lost, to be retried."""
    log.warning(
        "pool process %s died running task %s (exit code %s); replaced",
        slot.process.pid,
        job.task_id,
        slot.process.exitcode,
    )
    return JobResult(
        job.task_id,
        None,
        finished=time.time(),
        lost=True,
        entry_id=job.entry_id,
        attempt=job.attempt,
    )


def _timed_out(job: Job) -> JobResult:
    """The result of a job killed at its timeout: FAILED with a TimeoutError."""
    log.warning(
        "task %s ran past its %.3gs timeout; its process is replaced", job.task_id, job.timeout_s
    )
    error = TimeoutError(f"task {job.task_id} exceeded its timeout of {job.timeout_s:g} s")
    return JobResult(
        job.task_id,
        TaskStatus.FAILED,
        error_payload(error),
        finished=time.time(),
        entry_id=job.entry_id,
        attempt=job.attempt,
    )
