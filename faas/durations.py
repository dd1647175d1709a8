"""Which tasks are short: a running estimate of each function's execution time.

A worker that gets its next task only after reporting the last one idles for a round trip
between tasks; for a task of a few microseconds that round trip is most of the time. Short
tasks may therefore wait at a worker, queued ahead of a free process (up to one per
process), while long ones go only to free processes, where queueing would only make them
wait behind each other (a fixed prefetch cost weak scaling). "Short" is an exponentially
weighted mean of the execution times results report (``finished - started``) below
``FAAS_PREFETCH_SHORT_MS``; a function never seen is not short. The table keeps the
functions seen most recently, at most ``kept`` of them.
"""

from __future__ import annotations

from collections import OrderedDict

#: Weight of the newest observation in the running mean.
WEIGHT = 0.25
#: Functions whose mean is kept; the least recently seen goes first (it is then not short
#: until it has run again).
KEPT = 4096


class Durations:
    """Running mean execution time per key (a function id; a worker uses one key)."""

    def __init__(self, short_s: float, kept: int = KEPT) -> None:
        self.short_s = short_s
        self.kept = kept
        self.mean_s: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self.mean_s)

    def observe(self, key: str, started: float, finished: float) -> None:
        """Take one execution's start and end times (ignored unless both are set)."""
        if not 0 < started <= finished:
            return
        seconds = finished - started
        mean = self.mean_s.pop(key, None)
        self.mean_s[key] = seconds if mean is None else mean + WEIGHT * (seconds - mean)
        if len(self.mean_s) > self.kept:
            self.mean_s.popitem(last=False)

    def short(self, key: str) -> bool:
        """Whether tasks of ``key`` may be queued ahead of a free process."""
        mean = self.mean_s.get(key)
        return mean is not None and mean < self.short_s

    def forget(self, key: str) -> None:
        """Drop what is known of ``key`` (a deleted function)."""
        self.mean_s.pop(key, None)
