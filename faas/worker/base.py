"""What pull and push workers share: a pool, the tasks held, signals, and the main loop."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque

import zmq

from faas.code_cache import FunctionCache
from faas.config import Settings
from faas.durations import Durations
from faas.protocol import Message, Register, ResultMsg, TaskMsg, Tasks
from faas.worker.pool import Job, JobResult, ProcessPool

log = logging.getLogger(__name__)

#: Exit codes of a worker.
EXIT_OK, EXIT_REJECTED = 0, 2
#: A send blocked this long (no dispatcher connected yet) re-checks for a stop signal.
SEND_TIMEOUT_MS = 200


def new_worker_id() -> str:
    """A worker id unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker(ABC):
    """Runs the tasks a dispatcher hands it in a pool of ``processes`` processes."""

    def __init__(self, processes: int, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.worker_id = new_worker_id()
        # before the zmq context: forks stay clean
        self.pool = ProcessPool(processes, settings.max_result_bytes)
        self.context = zmq.Context()
        self.queue: deque[TaskMsg] = deque()
        self.held: dict[str, TaskMsg] = {}
        self.code = FunctionCache(settings.function_cache_bytes)
        #: Highest TASKS ``seq`` received (echoed so the dispatcher can reconcile).
        self.seen = 0
        #: Reports of tasks that arrived without code we have (sent with the next results).
        self.nocode: list[ResultMsg] = []
        #: How long this worker's tasks run, all functions together (faas/durations.py).
        self.durations = Durations(settings.prefetch_short_ms / 1000)
        self.poller = zmq.Poller()
        self._watched: list[int] = []
        self._generation = -1
        self.stopping = False

    @property
    def processes(self) -> int:
        """Processes in the pool."""
        return self.pool.size

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (exit 0) or a rejected registration (exit 2)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        log.info("worker %s: %d processes, dispatcher %s", self.worker_id, self.processes, self.url)
        try:
            return self.serve()
        finally:
            self.close()

    def _stop(self, *_: object) -> None:
        self.stopping = True
        self.pool.closing = True  # processes killed with us are not replaced

    def send(self, sock: zmq.Socket[bytes], message: Message) -> bool:
        """Send, waiting while the dispatcher is unreachable (no connection, or a handshake
        that fails) but never past a stop signal; False if stopped before it went out."""
        frame = message.encode()
        while not self.stopping:
            try:
                sock.send(frame)
                return True
            except zmq.Again:  # SEND_TIMEOUT_MS passed: check for a stop, then try again
                continue
        return False

    def register_message(self) -> Register:
        """REGISTER, with every task we still hold and its attempt (for adoption)."""
        return Register(
            self.worker_id, self.processes, [[t.task_id, t.attempt] for t in self.held.values()]
        )

    @abstractmethod
    def serve(self) -> int:
        """The mode's loop; returns the exit code."""

    def accept(self, frame: Tasks) -> None:
        """Take a TASKS frame and start what the pool has room for. A task whose code we do
        not have (the dispatcher thought we did) is reported NOCODE, never run."""
        self.seen = max(self.seen, frame.seq)
        for task in frame.tasks:
            if task.fn:
                self.code.put(task.function_id, task.fn)
            if task.function_id not in self.code:
                self.nocode.append(ResultMsg(task.task_id, task.entry_id, task.attempt, "NOCODE"))
                continue
            self.held[task.task_id] = task
            self.queue.append(task)
        self.code.trim({t.function_id for t in self.held.values()})
        self.fill()

    def fill(self) -> None:
        """Start queued tasks on free processes."""
        while self.queue and self.pool.free:
            t = self.queue.popleft()
            self.pool.submit(
                Job(
                    t.task_id,
                    t.function_id,
                    self.code.get(t.function_id) or b"",  # kept while a task holds it
                    t.args,
                    t.timeout_s,
                    entry_id=t.entry_id,
                    attempt=t.attempt,
                )
            )

    def want(self) -> int:
        """Tasks we could start now."""
        return max(0, self.pool.free - len(self.queue))

    def watch(self, sock: zmq.Socket[bytes]) -> None:
        """Poll ``sock`` and the pool's pipes (re-read after a process was replaced)."""
        if self._generation == self.pool.generation and sock in dict(self.poller.sockets):
            return
        for fd in self._watched:
            self.poller.unregister(fd)
        self._watched = self.pool.fds()
        for fd in self._watched:
            self.poller.register(fd, zmq.POLLIN)
        self.poller.register(sock, zmq.POLLIN)
        self._generation = self.pool.generation

    def poll(self, sock: zmq.Socket[bytes], timeout_s: float) -> tuple[bool, list[ResultMsg]]:
        """Wait up to ``timeout_s`` for a message or finished tasks; answer
        (message waiting, finished results)."""
        self.watch(sock)
        # whole milliseconds, rounded up: rounded down, the last fraction of a back-off
        # polled with 0 again and again, a busy loop
        ready = dict(self.poller.poll(max(0, math.ceil(timeout_s * 1000))))
        fds = {fd for fd in ready if isinstance(fd, int)}  # pool pipes and sentinels
        results = self.finished(self.pool.collect(ready_fds=fds)) if fds else []
        if not results and self.pool.next_deadline() is not None:
            results = self.finished(self.pool.collect(0))  # timeouts are due without I/O
        self.fill()
        results, self.nocode = self.nocode + results, []
        return sock in ready, results

    def finished(self, results: list[JobResult]) -> list[ResultMsg]:
        """Wire results of finished, lost or timed-out jobs, each labelled with the attempt
        its process ran (a later attempt of the same task may be held, still to run)."""
        out = []
        for r in results:
            held = self.held.get(r.task_id)
            if held is not None and held.attempt == r.attempt:
                del self.held[r.task_id]
            if not r.lost:
                self.durations.observe("", r.started, r.finished)
            status = "LOST" if r.lost or r.status is None else r.status.value
            out.append(
                ResultMsg(
                    r.task_id, r.entry_id, r.attempt, status, r.payload, r.started, r.finished
                )
            )
        return out

    def welcomed(self) -> None:
        """A dispatcher took our registration: frame numbers start again from its own (an
        earlier dispatcher's may be higher, if its clock was ahead)."""
        self.seen = 0

    def close(self) -> None:
        """Stop the pool and the socket context."""
        self.pool.close()
        self.context.destroy(linger=0)
        log.info("worker %s stopped", self.worker_id)


class Backoff:
    """Bounded exponential back-off for an idle loop: never a busy loop."""

    def __init__(self, first_s: float = 0.001, max_s: float = 0.05) -> None:
        self.first_s, self.max_s = first_s, max_s
        self.delay_s = 0.0
        self.until = 0.0

    def wait(self) -> None:
        """Back off (longer than last time)."""
        self.delay_s = min(self.max_s, self.delay_s * 2 or self.first_s)
        self.until = time.monotonic() + self.delay_s

    def reset(self) -> None:
        """Work arrived: no more waiting."""
        self.delay_s, self.until = 0.0, 0.0

    @property
    def ready(self) -> bool:
        """True once the back-off has passed."""
        return time.monotonic() >= self.until
