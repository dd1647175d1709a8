"""What pull and push modes share: a ROUTER socket, registration, liveness of workers.

::

    worker (REQ in pull, DEALER in push) ──tcp──▶ ROUTER (bound by the dispatcher)
        REGISTER ▶  ◀ WELCOME | REJECT
        ...mode's own messages...
        silent for FAAS_HEARTBEAT_TIMEOUT_S ▶ declared lost: its tasks are retried

A frame that does not decode is logged and dropped; a handler error is logged and the loop
goes on: no message can crash the dispatcher.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod

import zmq
import zmq.asyncio

from faas.config import Settings
from faas.curve import secure_server
from faas.dispatcher.base import Dispatcher
from faas.dispatcher.workers import WorkerRecord
from faas.exceptions import ProtocolError, ProtocolVersionError
from faas.models import DispatcherState, Task, TaskStatus, WorkerInfo
from faas.protocol import (
    Message,
    Reconnect,
    Register,
    Reject,
    ResultMsg,
    TaskMsg,
    Welcome,
    decode,
)
from faas.store import Store
from faas.worker.pool import JobResult

log = logging.getLogger(__name__)

MAX_PROCESSES_PER_WORKER = 4096


class RemoteDispatcher(Dispatcher):
    """A dispatcher whose processes live in workers that connect over ZeroMQ."""

    def __init__(self, store: Store, settings: Settings, name: str, url: str) -> None:
        super().__init__(store, settings, name)
        self.url = url
        self.workers: dict[str, WorkerRecord] = {}
        #: Frames between identity and message in each peer's last frame (a REQ peer sends
        #: a request id and an empty delimiter); a reply must echo them.
        self.envelopes: dict[bytes, list[bytes]] = {}
        self.context: zmq.asyncio.Context | None = None
        self.socket: zmq.asyncio.Socket | None = None
        self.authenticator = None

    async def start(self) -> None:
        self.context = zmq.asyncio.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.LINGER, 0)
        if self.settings.curve_dir:
            self.authenticator = secure_server(self.socket, self.settings.curve_dir)
        self.socket.bind(self.url)
        log.info("%s dispatcher listening on %s%s", self.mode, self.url,
                 " (CURVE)" if self.settings.curve_dir else "")

    async def close(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
        if self.socket is not None:
            self.socket.close(linger=0)
            self.context.term()

    def state(self) -> DispatcherState:
        return DispatcherState(mode=self.mode, workers=len(self.workers),
                               processes=sum(w.processes for w in self.workers.values()))

    def worker_info(self) -> list[WorkerInfo]:
        now = time.monotonic()
        return [WorkerInfo(worker_id=w.worker_id, processes=w.processes,
                           in_flight=self.load[w.worker_id],
                           last_seen_s=round(now - w.last_seen, 3))
                for w in self.workers.values()]

    async def serve(self) -> None:
        while True:
            frames = await self.socket.recv_multipart()
            identity, frame = frames[0], frames[-1]
            self.envelopes[identity] = frames[1:-1]
            try:
                message = decode(frame)
            except ProtocolVersionError as e:
                log.warning("rejecting %r: %s", identity, e)
                await self.reply(identity, Reject(str(e)))
                continue
            except ProtocolError as e:
                log.warning("dropped a malformed frame from %r: %s", identity, e)
                continue
            try:
                await self.handle(identity, message)
            except Exception:
                log.exception("error handling %s from %r; dropped", type(message).__name__,
                              identity)

    async def reply(self, identity: bytes, message: Message) -> bool:
        """Send to one worker; False if it is gone (unroutable)."""
        try:
            frames = [identity, *self.envelopes.get(identity, ()), message.encode()]
            await self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
            return True
        except zmq.ZMQError as e:
            log.warning("cannot send to %r: %s", identity, e)
            return False

    @abstractmethod
    async def handle(self, identity: bytes, message: Message) -> None:
        """React to one decoded message."""

    def task_message(self, worker_id: str, task: Task) -> TaskMsg:
        """The TASK for ``worker_id``; the function's code only if it was never sent it."""
        known = self.workers[worker_id].known_functions
        fn = b"" if task.function_id in known else self.functions[task.function_id]
        known.add(task.function_id)
        return TaskMsg(task.task_id, task.entry_id, task.attempts, task.function_id, fn,
                       task.args, task.timeout_s or self.settings.task_timeout_s)

    async def register(self, identity: bytes, message: Register) -> None:
        """Welcome a worker (again, after a restart of ours) or reject it."""
        if not 0 < message.processes <= MAX_PROCESSES_PER_WORKER:
            await self.reply(identity, Reject(f"processes must be 1..{MAX_PROCESSES_PER_WORKER}"
                                              f", got {message.processes}"))
            return
        worker_id = identity.decode(errors="replace")
        record = self.workers.get(worker_id)
        limit = self.settings.max_workers
        if record is None and limit and len(self.workers) >= limit:
            await self.reply(identity, Reject(f"this dispatcher takes at most {limit} workers"))
            return
        if record is None:
            self.workers[worker_id] = WorkerRecord(worker_id, message.processes)
            log.info("worker %s registered with %d processes", worker_id, message.processes,
                     extra={"worker_id": worker_id})
        else:
            record.processes, record.last_seen = message.processes, time.monotonic()
            record.known_functions.clear()
        await self.reply(identity, Welcome(self.settings.heartbeat_s))
        self._room.set()

    def seen(self, identity: bytes) -> WorkerRecord | None:
        """Note that a worker is alive; None if it is not registered."""
        record = self.workers.get(identity.decode(errors="replace"))
        if record is not None:
            record.last_seen = time.monotonic()
        return record

    async def unknown(self, identity: bytes) -> None:
        """A worker we do not know (we restarted): ask it to register again."""
        await self.reply(identity, Reconnect())

    async def record_results(self, worker_id: str, results: list[ResultMsg]) -> None:
        """Turn wire results into pool results and record them."""
        jobs = [JobResult(r.task_id, None if r.status == "LOST" else TaskStatus(r.status),
                          r.payload, r.started, r.finished, lost=r.status == "LOST",
                          tag=r.entry_id) for r in results]
        if jobs:
            await self.record(worker_id, jobs)

    async def drop_worker(self, worker_id: str, why: str) -> None:
        """Forget a worker; every task it held is retried."""
        self.envelopes.pop(worker_id.encode(), None)
        if self.workers.pop(worker_id, None) is not None:
            log.warning("worker %s lost: %s", worker_id, why, extra={"worker_id": worker_id})
            await self._retrying(lambda: self.store.add_event("worker_lost", worker=worker_id,
                                                              why=why))
            await self._retrying(lambda: self.store.count("worker_lost"))
            await self.worker_lost(worker_id)

    async def expire(self) -> None:
        deadline = time.monotonic() - self.settings.heartbeat_timeout_s
        if self.redis_failed_at > deadline:
            return  # we were stuck on Redis, not listening: silence proves nothing yet
        for worker_id in [w.worker_id for w in self.workers.values() if w.last_seen < deadline]:
            await self.drop_worker(worker_id, f"silent for over "
                                              f"{self.settings.heartbeat_timeout_s:g}s")
