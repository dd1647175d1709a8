"""Worker records and the selection policy of push mode."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_order = itertools.count()


@dataclass
class WorkerRecord:
    """What the dispatcher knows of one registered worker."""

    worker_id: str
    processes: int
    last_seen: float = field(default_factory=time.monotonic)
    #: Functions this worker was sent already (later tasks omit the code).
    known_functions: set[str] = field(default_factory=set)
    #: When the worker last got a task, for round-robin among equals.
    last_assigned: int = -1



def most_free(workers: Iterable[WorkerRecord], load: Mapping[str, int],
              prefetch: int = 0) -> WorkerRecord | None:
    """The worker with the most free slots (``processes + prefetch - load``), the longest
    unassigned among equals; None when every worker is full."""
    def free(w: WorkerRecord) -> int:
        return w.processes + prefetch - load.get(w.worker_id, 0)

    best = max(workers, key=lambda w: (free(w), -w.last_assigned), default=None)
    if best is None or free(best) <= 0:
        return None
    best.last_assigned = next(_order)
    return best
