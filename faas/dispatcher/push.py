"""Push mode: the dispatcher sends each task to the worker with the most free slots.

Workers are DEALERs whose identity is their worker id; results stream back unprompted
(RESULTS), and each side heart-beats so the other knows it is alive. A worker with no free
slot (processes + FAAS_PREFETCH) gets nothing. A worker's HEARTBEAT lists what it holds and
the last frame it received; our HEARTBEAT answer carries the seq of the last TASKS frame we
sent it, so a frame lost on the way is noticed at the next heartbeat
(``RemoteDispatcher.reconcile``), and ``acked``, the last of its RESULTS frames whose
outcomes are written: until then the worker keeps those results, and sends them again when
it registers (with a restarted dispatcher, say).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from faas.dispatcher.books import Assignment
from faas.dispatcher.remote import RemoteDispatcher
from faas.dispatcher.workers import most_free
from faas.models import Mode, Task
from faas.protocol import Heartbeat, Message, Register, Results

log = logging.getLogger(__name__)


class PushDispatcher(RemoteDispatcher):
    """ROUTER facing DEALER workers; load-balanced sends."""

    mode = Mode.PUSH

    def free_slots(self) -> int:
        prefetch, queued = self.settings.prefetch, self.queued_per_process(self.backlog.first())
        return sum(
            max(0, w.processes * (1 + queued) + prefetch - self.load(w.worker_id))
            for w in self.workers.values()
        )

    def send(self, tasks: Sequence[Task]) -> list[Assignment]:
        batches: dict[str, list[Task]] = defaultdict(list)
        planned = {w: self.load(w) for w in self.workers}
        for task in tasks:
            queued = self.queued_per_process(task)
            worker = most_free(self.workers.values(), planned, self.settings.prefetch, queued)
            if worker is None:  # the rest waits, in order (a long task for a free process)
                break
            batches[worker.worker_id].append(task)
            planned[worker.worker_id] = planned.get(worker.worker_id, 0) + 1
        assigned = []
        for worker_id, batch in batches.items():
            frame = self.tasks_frame(worker_id, batch)
            if self.reply(worker_id.encode(), frame):
                assigned += [Assignment(task, worker_id, frame.seq) for task in batch]
            else:
                self.unroutable.add(worker_id)
        return assigned

    def handle(self, identity: bytes, message: Message) -> None:
        if isinstance(message, Register):
            self.register(identity, message)
            self.dispatch()
            return
        worker_id = identity.decode(errors="replace")
        peer = self.heard_from(identity)
        if isinstance(message, Results):
            self.on_result_msgs(worker_id, message.results)
            if peer is not None and message.seq:  # acknowledged once its writes are applied
                peer.unacked.append((message.seq, self.writes_queued))
        elif not isinstance(message, Heartbeat):
            log.warning("dropped unexpected %s from %r", type(message).__name__, identity)
            return
        if peer is None:
            self.unknown(identity)
        elif isinstance(message, Heartbeat):
            self.reconcile(worker_id, message.held, message.seen)
            self.reply(identity, Heartbeat(seen=self.seq, acked=peer.ack(self.writes_applied)))
