"""Where a stack's CPU goes: CPU seconds per component, and the machine's busy and stolen time.

A run on this 2-core machine is bound by its cores when the machine is busy nearly all the
time; ``cores_used`` turns two samples of a :class:`CpuMeter` into cores each component kept
busy (CPU seconds ÷ wall seconds), which is how the benchmark report says what bounds a
target it misses.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from pathlib import Path

import psutil

from faas.stack import Stack

#: The components a meter reports, in the order the report lists them.
COMPONENTS = ("api", "redis", "dispatcher", "worker", "client")


class CpuMeter:
    """CPU seconds (user + system) each component of a stack has used so far; ``client`` is
    the process taking the samples (the load generator)."""

    def __init__(self, stack: Stack) -> None:
        self.api = psutil.Process(stack.api.pid)
        self.dispatcher = psutil.Process(stack.dispatcher.pid)
        self.redis = psutil.Process(stack.redis.process.pid)
        self.workers = [psutil.Process(p.pid) for p in stack.worker_procs]

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample(self) -> dict[str, float]:
        pool = self.dispatcher.children(recursive=True)  # local mode's processes
        workers = [c for w in self.workers for c in (w, *w.children(recursive=True))]
        me = resource.getrusage(resource.RUSAGE_SELF)
        return {
            **host_times(),
            "client": me.ru_utime + me.ru_stime,
            "api": self._cpu([self.api]),
            "redis": self._cpu([self.redis]),
            "dispatcher": self._cpu([self.dispatcher]),
            "worker": self._cpu(workers + pool),
        }


def host_times() -> dict[str, float]:
    """Seconds the machine's CPUs spent busy and stolen by the hypervisor (``/proc/stat``):
    on a virtual machine, time stolen is capacity the processes' CPU times never see."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return {"host_busy": (user + nice + system + irq + softirq) / tick, "host_steal": steal / tick}


def effective_cores(cpu_s: dict[str, float], cores: int) -> float:
    """Cores the processes really had during a run: the stolen share taken off."""
    busy, steal = cpu_s["host_busy"], cpu_s["host_steal"]
    return cores * busy / (busy + steal) if busy + steal > 0 else float(cores)


def cores_used(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict:
    """Cores each component kept busy between two samples (``cores_<component>``), the whole
    machine's (``cores_host``, anything running) and the cores it had (``cores_had``: the
    machine's cores less the hypervisor's steal)."""
    used = {f"cores_{c}": (after[c] - before[c]) / wall_s for c in COMPONENTS if c in after}
    delta = {k: after[k] - before[k] for k in ("host_busy", "host_steal")}
    used["cores_host"] = delta["host_busy"] / wall_s
    used["cores_had"] = effective_cores(delta, os.cpu_count() or 1)
    return used


PROBE_LOOPS = 300_000


def probe() -> float:
    """Seconds a fixed pure-Python loop takes here now (median of 3): how fast this
    machine runs at the moment, platform aside. On a VM whose hypervisor lends the cores
    out, it moves by tens of per cent within minutes."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(PROBE_LOOPS):
            total += i
        times.append(time.perf_counter() - started)
    return statistics.median(times)
