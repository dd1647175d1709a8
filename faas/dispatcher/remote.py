"""What pull and push modes share: a ROUTER socket, registration, liveness of workers.

::

    worker (REQ in pull, DEALER in push) ──tcp──▶ ROUTER (bound by the dispatcher)
        REGISTER ▶  ◀ WELCOME | REJECT
        ...mode's own messages...
        silent for FAAS_HEARTBEAT_TIMEOUT_S ▶ declared lost: its tasks are retried
        held ids + seq seen ▶ tasks sent in an acknowledged frame but not held: retried

Both modes reconcile here (``reconcile``): what a worker says it holds against what we
handed it. A restarted dispatcher adopts what re-registering workers still run (``adopt``).

Sends never block (``NOBLOCK``: the asyncio socket completes them at once, and wakes its
pending receive as ZeroMQ's edge-triggered descriptor requires; a send on a synchronous
shadow of the socket would not, and the receive would sleep for good), so handling a
message is one synchronous step. A send to a worker that is gone (unroutable) leaves its tasks
unsent; the worker is dropped once the dispatch that found it gone has finished its
bookkeeping. A frame that does not decode is logged and dropped; a handler error is logged,
the books are repaired (``Dispatcher.repair``) and the loop goes on: no message can crash
the dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, cast

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from faas.config import Settings
from faas.curve import secure_server
from faas.dispatcher.base import Dispatcher
from faas.dispatcher.books import Assignment
from faas.dispatcher.workers import Peer
from faas.exceptions import ProtocolError, ProtocolVersionError
from faas.models import DispatcherState, Task, TaskStatus, WorkerInfo
from faas.protocol import (
    Message,
    Reconnect,
    Register,
    Reject,
    ResultMsg,
    TaskMsg,
    Tasks,
    Welcome,
    decode,
)
from faas.store import Count, Running, Store
from faas.worker.pool import JobResult

log = logging.getLogger(__name__)

MAX_PROCESSES_PER_WORKER = 4096


class RemoteDispatcher(Dispatcher):
    """A dispatcher whose processes live in workers that connect over ZeroMQ."""

    workers_survive = True

    def __init__(self, store: Store, settings: Settings, name: str, url: str) -> None:
        super().__init__(store, settings, name)
        self.url = url
        self.workers: dict[str, Peer] = {}
        #: Frames between identity and message in each registered peer's last frame (a REQ
        #: peer sends a request id and an empty delimiter); a reply must echo them.
        self.envelopes: dict[bytes, list[bytes]] = {}
        #: Sequence number of the last TASKS frame (see faas.protocol: reconciliation).
        self.seq = time.time_ns() // 1000
        self.context: zmq.asyncio.Context | None = None
        self.socket: zmq.asyncio.Socket | None = None
        self.authenticator: AsyncioAuthenticator | None = None
        #: Workers a send found gone during the current dispatch (dropped after it).
        self.unroutable: set[str] = set()

    async def start(self) -> None:
        self.context = zmq.asyncio.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.LINGER, 0)
        if self.settings.curve_dir:
            self.authenticator = secure_server(self.socket, self.settings.curve_dir)
        self.socket.bind(self.url)
        log.info(
            "%s dispatcher listening on %s%s",
            self.mode,
            self.url,
            " (CURVE)" if self.settings.curve_dir else "",
        )

    async def close(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
        if self.socket is not None:
            self.socket.close(linger=0)
        if self.context is not None:
            self.context.term()

    def state(self) -> DispatcherState:
        return DispatcherState(
            mode=self.mode,
            workers=len(self.workers),
            processes=sum(w.processes for w in self.workers.values()),
        )

    def worker_info(self) -> list[WorkerInfo]:
        now = time.monotonic()
        return [
            WorkerInfo(
                worker_id=w.worker_id,
                processes=w.processes,
                in_flight=self.load(w.worker_id),
                last_seen_s=round(now - w.last_seen, 3),
            )
            for w in self.workers.values()
        ]

    def _socket(self) -> zmq.asyncio.Socket:
        if self.socket is None:
            raise RuntimeError("the dispatcher's socket is used before start()")
        return self.socket

    async def serve(self) -> None:
        while True:
            self.receive(await self._socket().recv_multipart())

    def receive(self, frames: list[bytes]) -> None:
        """Take one multipart message from the ROUTER: identity, envelope, frame."""
        identity, frame = frames[0], frames[-1]
        self.envelopes[identity] = frames[1:-1]
        try:
            message = decode(frame)
        except ProtocolVersionError as e:
            log.warning("rejecting %r: %s", identity, e)
            self.reply(identity, Reject(str(e)))
            message = None
        except ProtocolError as e:
            log.warning("dropped a malformed frame from %r: %s", identity, e)
            message = None
        if message is not None:
            self.handle_safely(identity, message)
        if identity.decode(errors="replace") not in self.workers:
            self.envelopes.pop(identity, None)  # keep envelopes of workers only

    def handle_safely(self, identity: bytes, message: Message) -> None:
        """Handle one message; an unexpected error is logged, and the books repaired."""
        try:
            self.handle(identity, message)
        except Exception:
            log.exception("error handling %s from %r; dropped", type(message).__name__, identity)
            self.repair()

    def reply(self, identity: bytes, message: Message) -> bool:
        """Send to one worker without blocking; False if it is gone (unroutable)."""
        frames = [identity, *self.envelopes.get(identity, ()), message.encode()]
        # an asyncio socket's send answers a future, done when it returns (NOBLOCK)
        sent = cast(
            "asyncio.Future[None]", self._socket().send_multipart(frames, flags=zmq.NOBLOCK)
        )
        error = sent.exception() if sent.done() else None
        if error is not None:
            log.warning("cannot send to %r: %s", identity, error)
            return False
        return True

    @abstractmethod
    def handle(self, identity: bytes, message: Message) -> None:
        """React to one decoded message (synchronously: it never waits on Redis)."""

    def dispatch(self) -> None:
        """Dispatch, then drop the workers a send found gone (their tasks are retried)."""
        super().dispatch()
        while self.unroutable:
            gone, self.unroutable = self.unroutable, set()
            for worker_id in sorted(gone):
                self.drop_worker(worker_id, "unreachable")

    def tasks_frame(self, worker_id: str, tasks: Sequence[Task]) -> Tasks:
        """The next TASKS frame for ``worker_id``: each task's code only where the worker
        is not known to have it."""
        self.seq += 1
        peer = self.workers[worker_id]
        messages = []
        for task in tasks:
            known = peer.knows(task.function_id)
            fn = b"" if known else self.code.get(task.function_id) or b""
            messages.append(
                TaskMsg(
                    task.task_id,
                    task.entry_id,
                    task.attempts,
                    task.function_id,
                    fn,
                    task.args,
                    task.timeout_s or self.settings.task_timeout_s,
                )
            )
        return Tasks(messages, self.seq)

    def forget_known(self, worker: str, function_id: str) -> None:
        peer = self.workers.get(worker)
        if peer is not None:
            peer.forget(function_id)

    def forget_function(self, function_id: str) -> None:
        for peer in self.workers.values():
            peer.forget(function_id)

    def register(self, identity: bytes, message: Register) -> None:
        """Welcome a worker (again, after a restart of ours) or reject it; adopt the tasks
        it says it still runs."""
        if not 0 < message.processes <= MAX_PROCESSES_PER_WORKER:
            self.reply(
                identity,
                Reject(f"processes must be 1..{MAX_PROCESSES_PER_WORKER}, got {message.processes}"),
            )
            return
        worker_id = identity.decode(errors="replace")
        peer = self.workers.get(worker_id)
        limit = self.settings.max_workers
        if peer is None and limit and len(self.workers) >= limit:
            self.reply(identity, Reject(f"this dispatcher takes at most {limit} workers"))
            return
        if peer is None:
            self.workers[worker_id] = Peer(worker_id, message.processes)
            log.info(
                "worker %s registered with %d processes",
                worker_id,
                message.processes,
                extra={"worker_id": worker_id},
            )
        else:
            peer.processes, peer.last_seen = message.processes, time.monotonic()
            peer.known_functions.clear()
        self.adopt(worker_id, message.held)
        self.reply(identity, Welcome(self.settings.heartbeat_s))
        self._room.set()

    def adopt(self, worker_id: str, held: Sequence[Sequence[Any]]) -> None:
        """Take tasks a (re-)registering worker still runs as assigned to it, if they are
        waiting in our books (resumed after our restart, taken over, or requeued) at that
        attempt or a later one than we know (a dead dispatcher's dispatch whose mark never
        reached Redis); each is marked RUNNING at the attempt the worker runs."""
        adopted = 0
        for task_id, attempt in held:
            task = self.resumed.get(task_id) or self.backlog.get(task_id)
            if task is None or attempt < max(task.attempts, 1):
                continue
            self.unresume(task_id)
            self.backlog.remove(task_id)
            task.attempts, task.resend = attempt, False
            self.assign(Assignment(task, worker_id))
            self.write(Running(task_id, attempt, worker_id, time.time()))
            adopted += 1
        if adopted:
            log.info(
                "worker %s: adopted %d task(s) it still runs",
                worker_id,
                adopted,
                extra={"worker_id": worker_id},
            )

    def heard_from(self, identity: bytes) -> Peer | None:
        """Note that a worker is alive; None if it is not registered."""
        peer = self.workers.get(identity.decode(errors="replace"))
        if peer is not None:
            peer.last_seen = time.monotonic()
        return peer

    def unknown(self, identity: bytes) -> None:
        """A worker we do not know (we restarted): ask it to register again."""
        self.reply(identity, Reconnect())

    def on_result_msgs(self, worker_id: str, results: list[ResultMsg]) -> None:
        """Turn wire results into pool results and take them in."""
        jobs = [
            JobResult(
                r.task_id,
                TaskStatus(r.status) if r.status in _FINAL else None,
                r.payload,
                r.started,
                r.finished,
                lost=r.status == "LOST",
                entry_id=r.entry_id,
                attempt=r.attempt,
                nocode=r.status == "NOCODE",
            )
            for r in results
        ]
        if jobs:
            self.on_results(worker_id, jobs)

    def reconcile(
        self, worker_id: str, held: Iterable[str], seen: int, reported: Iterable[str] = ()
    ) -> None:
        """Tasks we sent this worker in a frame it has acknowledged (``seq <= seen``) that it
        neither holds nor reports were lost on the way: retry them. A ``seen`` above every
        frame we sent comes from an earlier run of ours (its clock ahead of ours): it proves
        nothing (the worker forgets it when we welcome it)."""
        if seen > self.seq:
            return
        accounted = set(held) | set(reported)
        lost = [
            a
            for a in list(self.assigned.get(worker_id, {}).values())
            if a.seq <= seen and a.task.task_id not in accounted
        ]
        for a in lost:
            self.unassign(a.task.task_id)
            self.forget_known(worker_id, a.task.function_id)  # the lost frame had the code
        if lost:
            log.warning(
                "worker %s never got %d task(s); retrying",
                worker_id,
                len(lost),
                extra={"worker_id": worker_id},
            )
            self.retry_lost([(a.task, worker_id) for a in lost])

    def drop_worker(self, worker_id: str, why: str) -> None:
        """Forget a worker; every task it held is retried."""
        self.envelopes.pop(worker_id.encode(), None)
        if self.workers.pop(worker_id, None) is not None:
            log.warning("worker %s lost: %s", worker_id, why, extra={"worker_id": worker_id})
            self.event("worker_lost", worker=worker_id, why=why)
            self.write(Count("worker_lost"))
            self.worker_lost(worker_id)

    def expire(self) -> None:
        deadline = time.monotonic() - self.settings.heartbeat_timeout_s
        if self.redis_failed_at > deadline:
            return  # we were stuck on Redis, not listening: silence proves nothing yet
        for worker_id in [w.worker_id for w in self.workers.values() if w.last_seen < deadline]:
            try:
                self.drop_worker(
                    worker_id, f"silent for over {self.settings.heartbeat_timeout_s:g}s"
                )
            except Exception:
                log.exception("error dropping worker %s; books repaired", worker_id)
                self.repair()


_FINAL = ("COMPLETED", "FAILED")
