"""Peers (what a dispatcher knows of each registered worker) and push mode's selection
policy."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_order = itertools.count()
#: Functions remembered per worker as "it has the code"; forgetting one costs one resend.
KNOWN_FUNCTIONS_KEPT = 4096


@dataclass
class Peer:
    """What the dispatcher knows of one registered worker."""

    worker_id: str
    processes: int
    last_seen: float = field(default_factory=time.monotonic)
    #: Functions this worker was sent already (later tasks omit the code), most recent
    #: last, at most KNOWN_FUNCTIONS_KEPT.
    known_functions: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: When the worker last got a task, for round-robin among equals.
    last_assigned: int = -1
    #: Push: (RESULTS seq, writes queued by then) of result frames not acknowledged yet,
    #: and the highest seq acknowledged (its outcomes are written).
    unacked: deque[tuple[int, int]] = field(default_factory=deque)
    acked: int = 0

    def ack(self, applied: int) -> int:
        """The highest RESULTS seq whose outcomes are written once ``applied`` writes are."""
        while self.unacked and self.unacked[0][1] <= applied:
            self.acked = max(self.acked, self.unacked.popleft()[0])
        return self.acked

    def knows(self, function_id: str) -> bool:
        """Whether the worker was sent this function already; from now on it is."""
        known = function_id in self.known_functions
        self.known_functions[function_id] = None
        self.known_functions.move_to_end(function_id)
        if len(self.known_functions) > KNOWN_FUNCTIONS_KEPT:
            self.known_functions.popitem(last=False)
        return known

    def forget(self, function_id: str) -> None:
        """The worker does not have this function (any more)."""
        self.known_functions.pop(function_id, None)


def most_free(
    workers: Iterable[Peer], load: Mapping[str, int], prefetch: int = 0, per_process: int = 0
) -> Peer | None:
    """The worker with the most free slots (``processes × (1 + per_process) + prefetch -
    load``), the longest unassigned among equals; None when every worker is full."""

    def free(w: Peer) -> int:
        return w.processes * (1 + per_process) + prefetch - load.get(w.worker_id, 0)

    best = max(workers, key=lambda w: (free(w), -w.last_assigned), default=None)
    if best is None or free(best) <= 0:
        return None
    best.last_assigned = next(_order)
    return best
