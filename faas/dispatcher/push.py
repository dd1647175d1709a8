"""Push mode: the dispatcher sends each task to the worker with the most free slots.

Workers are DEALERs whose identity is their worker id; results stream back unprompted
(RESULTS), and each side heart-beats so the other knows it is alive. A worker with no free
slot (processes + FAAS_PREFETCH) gets nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from faas.dispatcher.remote import RemoteDispatcher
from faas.dispatcher.workers import most_free
from faas.models import Task
from faas.protocol import Heartbeat, Message, Register, Results, Tasks

log = logging.getLogger(__name__)


class PushDispatcher(RemoteDispatcher):
    """ROUTER facing DEALER workers; load-balanced sends."""

    mode = "push"

    def free_slots(self) -> int:
        prefetch = self.settings.prefetch
        return sum(max(0, w.processes + prefetch - self.load[w.worker_id])
                   for w in self.workers.values())

    async def send(self, tasks: Sequence[Task]) -> list[tuple[Task, str]]:
        batches: dict[str, list[Task]] = defaultdict(list)
        planned = dict(self.load)
        for task in tasks:
            worker = most_free(self.workers.values(), planned, self.settings.prefetch)
            if worker is None:
                break
            batches[worker.worker_id].append(task)
            planned[worker.worker_id] = planned.get(worker.worker_id, 0) + 1
        assigned = []
        for worker_id, batch in batches.items():
            messages = [self.task_message(worker_id, task) for task in batch]
            if await self.reply(worker_id.encode(), Tasks(messages)):
                assigned += [(task, worker_id) for task in batch]
            else:
                await self.drop_worker(worker_id, "unreachable")
        return assigned

    async def handle(self, identity: bytes, message: Message) -> None:
        if isinstance(message, Register):
            await self.register(identity, message)
            await self.dispatch()
            return
        record = self.seen(identity)
        if isinstance(message, Results):
            await self.record_results(identity.decode(errors="replace"), message.results)
        elif not isinstance(message, Heartbeat):
            log.warning("dropped unexpected %s from %r", type(message).__name__, identity)
            return
        if record is None:
            await self.unknown(identity)
        elif isinstance(message, Heartbeat):
            await self.reply(identity, Heartbeat())
