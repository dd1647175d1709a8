"""Pull mode: workers ask for work; each request carries the results it finished.

Workers hold REQ sockets, so they keep strict request/reply lock-step; the dispatcher's
ROUTER lets it *hold* the request of an idle worker (``wait``) until work arrives or
FAAS_HEARTBEAT_S passes (long-poll), instead of answering at once and being polled. A busy
worker's request is answered at once, with tasks or empty; it then backs off briefly.
A request lists the tasks the worker still holds: any task we handed it that is neither
held nor reported was lost on the way (a lost reply) and is retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from faas.dispatcher.remote import RemoteDispatcher
from faas.models import Task
from faas.protocol import Message, Register, Request, Tasks

log = logging.getLogger(__name__)


@dataclass
class _Parked:
    identity: bytes
    want: int
    since: float


class PullDispatcher(RemoteDispatcher):
    """ROUTER facing REQ workers; replies carry tasks."""

    mode = "pull"

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.parked: dict[bytes, _Parked] = {}

    def free_slots(self) -> int:
        return sum(p.want for p in self.parked.values())

    async def send(self, tasks: Sequence[Task]) -> list[tuple[Task, str]]:
        assigned, todo = [], list(tasks)
        for identity in list(self.parked):
            if not todo:
                break
            parked = self.parked.pop(identity)
            batch, todo = todo[:parked.want], todo[parked.want:]
            worker_id = identity.decode(errors="replace")
            messages = [self.task_message(worker_id, t) for t in batch]
            if await self.reply(identity, Tasks(messages)):
                assigned += [(task, worker_id) for task in batch]
        return assigned

    async def serve(self) -> None:
        await asyncio.gather(super().serve(), self._release_parked())

    async def _release_parked(self) -> None:
        """Answer held requests empty after FAAS_HEARTBEAT_S, so workers know we live."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s / 4)
            cutoff = time.monotonic() - self.settings.heartbeat_s
            for identity in [i for i, p in self.parked.items() if p.since < cutoff]:
                del self.parked[identity]
                await self.reply(identity, Tasks())

    async def handle(self, identity: bytes, message: Message) -> None:
        if isinstance(message, Register):
            await self.register(identity, message)
            return
        if not isinstance(message, Request):
            log.warning("dropped unexpected %s from %r", type(message).__name__, identity)
            return
        worker_id = identity.decode(errors="replace")
        record = self.seen(identity)
        self.parked.pop(identity, None)  # a new request replaces one we never answered
        await self._reconcile(worker_id, message)
        await self.record_results(worker_id, message.results)
        if record is None:
            await self.unknown(identity)
            return
        want = min(message.want, record.processes)
        if want <= 0:  # a heartbeat, or results only
            await self.reply(identity, Tasks())
            return
        self.parked[identity] = _Parked(identity, want, time.monotonic())
        await self.dispatch()
        if identity in self.parked and not message.wait:  # busy worker: answer now, empty
            del self.parked[identity]
            await self.reply(identity, Tasks())

    async def _reconcile(self, worker_id: str, message: Request) -> None:
        """Tasks we handed this worker that it neither holds nor reports were lost."""
        accounted = set(message.held) | {r.task_id for r in message.results}
        lost = [(t, w) for t, w in list(self.inflight.values())
                if w == worker_id and t.task_id not in accounted]
        for task, _ in lost:
            self.take(task.task_id)
        if lost:
            log.warning("worker %s never got %d task(s); retrying", worker_id, len(lost))
            await self.retry_lost(lost)
