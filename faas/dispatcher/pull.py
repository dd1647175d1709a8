"""Pull mode: workers ask for work; each request carries the results it finished.

Workers hold REQ sockets, so they keep strict request/reply lock-step; the dispatcher's
ROUTER lets it *hold* the request of an idle worker (``wait``) until work arrives or
FAAS_HEARTBEAT_S passes (long-poll), instead of answering at once and being polled. A busy
worker's request is answered at once, with tasks or empty; it then backs off briefly.
A request lists the tasks the worker still holds and the last TASKS frame it received: any
task we sent it in a frame it received that it neither holds nor reports was lost on the
way, and is retried (``RemoteDispatcher.reconcile``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faas.dispatcher.books import Assignment
from faas.dispatcher.remote import RemoteDispatcher
from faas.models import Mode, Task
from faas.protocol import Message, Register, Request, Tasks

log = logging.getLogger(__name__)


@dataclass
class _Parked:
    identity: bytes
    want: int
    since: float


class PullDispatcher(RemoteDispatcher):
    """ROUTER facing REQ workers; replies carry tasks."""

    mode = Mode.PULL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parked: dict[bytes, _Parked] = {}

    def free_slots(self) -> int:
        return sum(p.want for p in self.parked.values())

    def send(self, tasks: Sequence[Task]) -> list[Assignment]:
        assigned, todo = [], list(tasks)
        for identity in list(self.parked):
            if not todo:
                break
            parked = self.parked.pop(identity)
            worker_id = identity.decode(errors="replace")
            if worker_id not in self.workers:
                continue
            peer_processes = self.workers[worker_id].processes
            batch = self._fitting(todo, parked.want, self.load(worker_id), peer_processes)
            if not batch:
                self.parked[identity] = parked  # nothing it has room for: still waiting
                continue
            todo = todo[len(batch) :]
            frame = self.tasks_frame(worker_id, batch)
            if self.reply(identity, frame):
                assigned += [Assignment(task, worker_id, frame.seq) for task in batch]
        return assigned

    def _fitting(self, tasks: Sequence[Task], want: int, load: int, processes: int) -> list[Task]:
        """The first of ``tasks`` a worker asking for ``want`` takes, in order: a short task
        while it holds fewer than twice its processes, any other only while a process is
        free (faas/durations.py)."""
        batch: list[Task] = []
        for task in tasks[:want]:
            if load + len(batch) >= processes * (1 + self.queued_per_process(task)):
                break
            batch.append(task)
        return batch

    def answer_empty(self, identity: bytes) -> None:
        """An empty reply (it still carries a seq: everything sent before it was sent)."""
        self.seq += 1
        self.reply(identity, Tasks([], self.seq))

    async def serve(self) -> None:
        await asyncio.gather(super().serve(), self._release_parked())

    async def _release_parked(self) -> None:
        """Answer held requests empty after FAAS_HEARTBEAT_S, so workers know we live."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s / 4)
            cutoff = time.monotonic() - self.settings.heartbeat_s
            for identity in [i for i, p in self.parked.items() if p.since < cutoff]:
                del self.parked[identity]
                self.answer_empty(identity)

    def handle(self, identity: bytes, message: Message) -> None:
        if isinstance(message, Register):
            self.parked.pop(identity, None)  # its old request is answered by WELCOME
            self.register(identity, message)
            return
        if not isinstance(message, Request):
            log.warning("dropped unexpected %s from %r", type(message).__name__, identity)
            return
        worker_id = identity.decode(errors="replace")
        peer = self.heard_from(identity)
        self.parked.pop(identity, None)  # a new request replaces one we never answered
        self.on_result_msgs(worker_id, message.results)
        if peer is None:
            self.unknown(identity)
            return
        self.reconcile(worker_id, message.held, message.seen)
        want = min(message.want, 2 * peer.processes)  # room for short tasks included
        if want <= 0:  # a heartbeat, or results only
            self.answer_empty(identity)
            return
        self.parked[identity] = _Parked(identity, want, time.monotonic())
        self.dispatch()
        if identity in self.parked and not message.idle:  # busy worker: answer now, empty
            del self.parked[identity]
            self.answer_empty(identity)
