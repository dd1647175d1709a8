"""Where a stack's CPU goes: CPU seconds per component, and the machine's busy and stolen time.

A run on this 2-core machine is bound by its cores when the machine is busy nearly all the
time; ``cores_used`` turns two samples of a :class:`CpuMeter` into cores each component kept
busy (CPU seconds ÷ wall seconds), which is how the benchmark report says what bounds a
target it misses.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import psutil

from faas.stack import Stack

#: The components a meter reports, in the order the report lists them.
COMPONENTS = ("api", "redis", "dispatcher", "worker", "client")


class CpuMeter:
    """CPU seconds (user + system) each component of a stack has used so far; ``client`` is
    the process taking the samples (the load generator)."""

    def __init__(self, stack: Stack) -> None:
        self.api = psutil.Process(stack.process("api").pid)
        self.dispatcher = psutil.Process(stack.process("dispatcher").pid)
        self.redis = psutil.Process(stack.embedded().pid)
        self.workers = [psutil.Process(p.pid) for p in stack.worker_procs]

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _processes(self) -> dict[str, list[psutil.Process]]:
        pool = self.dispatcher.children(recursive=True)  # local mode's processes
        workers = [c for w in self.workers for c in (w, *w.children(recursive=True))]
        return {
            "api": [self.api],
            "redis": [self.redis],
            "dispatcher": [self.dispatcher],
            "worker": workers + pool,
        }

    def sample(self) -> dict[str, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return {
            **host_times(),
            "client": me.ru_utime + me.ru_stime,
            **{part: self._cpu(procs) for part, procs in self._processes().items()},
        }

    def sleeps(self) -> dict[str, int]:
        """How many times each component's threads have gone to sleep so far (voluntary
        context switches: a wait for a socket, a pipe, a timer; not preemption)."""
        parts = {"client": [os.getpid()]}
        parts.update({k: [p.pid for p in procs] for k, procs in self._processes().items()})
        return {part: sum(voluntary_sleeps(pid) for pid in pids) for part, pids in parts.items()}


def voluntary_sleeps(pid: int) -> int:
    """Voluntary context switches of every live thread of process ``pid``
    (``/proc/PID/task/*/status``; a thread that has ended takes its count with it; 0 once
    the process is gone). The stack's threads live as long as their processes."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def host_times() -> dict[str, float]:
    """Seconds the machine's CPUs spent busy and stolen by the hypervisor (psutil's
    ``cpu_times``): on a virtual machine, time stolen is capacity the processes' CPU times
    never see."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + t.irq + t.softirq
    return {"host_busy": busy, "host_steal": getattr(t, "steal", 0.0)}


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


def work(loops: int) -> int:
    """A fixed amount of pure-Python work, what the probe, the speed trace and the speed
    gauge time: ``loops`` additions."""
    total = 0
    for i in range(loops):
        total += i
    return total


def probe() -> float:
    """Seconds a fixed pure-Python loop takes here now (median of 3): how fast this
    machine runs at the moment, platform aside. On a VM whose hypervisor lends the cores
    out, it moves by tens of per cent within minutes."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        work(PROBE_LOOPS)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


#: Iterations of the fixed chunk of pure-Python work the speed trace times (~0.5 ms here)
CHUNK_LOOPS = 20_000
#: a state holds until this many chunks in a row say otherwise (one chunk alone is noise:
#: a timer interrupt, a chunk that straddles a switch)
STATE_CHUNKS = 3


def speed_trace(seconds: float) -> list[list[tuple[float, float]]]:
    """Time a fixed chunk of pure-Python work back to back on every core at once (one
    process pinned to each) for ``seconds``: per core, ``(start, duration)`` of each chunk.

    On this VM a core runs at one of two speeds, switching every few to few hundred ms
    (likely the host's hyperthread sibling busy or not): the chunk takes ~0.48 or ~0.80 ms.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    cpus = sorted(os.sched_getaffinity(0))
    procs = [ctx.Process(target=_time_chunks, args=(cpu, seconds, queue)) for cpu in cpus]
    for p in procs:
        p.start()
    try:
        traces = dict(queue.get(timeout=seconds + 30) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    return [traces[cpu] for cpu in cpus]


def _time_chunks(cpu: int, seconds: float, queue: mp.Queue) -> None:
    os.sched_setaffinity(0, {cpu})
    clock, out = time.perf_counter, []
    end = clock() + seconds
    while True:
        start = clock()
        work(CHUNK_LOOPS)
        done = clock()
        out.append((start, done - start))
        if done > end:
            break
    queue.put((cpu, out))


def speed_states(traces: list[list[tuple[float, float]]]) -> dict[str, float]:
    """Two speeds and how a core switches between them, from :func:`speed_trace` traces.

    The chunk durations split into two groups (two-means on their logarithms); a core is in
    the slow state from the :data:`STATE_CHUNKS`-th slow chunk in a row until as many fast
    ones. Returns the two chunk times (``fast_ms``, ``slow_ms``) and their ``ratio``, the
    share of time in the slow state (``slow_share``) and the mean stay in each
    (``mean_fast_s``, ``mean_slow_s``); ratio 1 and share 0 when there is one speed."""
    lo, hi = _two_means(np.log([d for trace in traces for _, d in trace]))
    fast_s, slow_s = math.exp(lo), math.exp(hi)
    seconds = float(sum(trace[-1][0] + trace[-1][1] - trace[0][0] for trace in traces))
    if slow_s < 1.1 * fast_s:  # one speed
        stays: dict[bool, list[float]] = {False: [seconds], True: []}
        slow_s, slow_time = fast_s, 0.0
    else:
        stays, slow_time = _stays(traces, (lo + hi) / 2)
    return {
        "fast_ms": round(1000 * fast_s, 4),
        "slow_ms": round(1000 * slow_s, 4),
        "ratio": round(slow_s / fast_s, 4),
        "slow_share": round(slow_time / seconds, 4),
        "mean_fast_s": round(statistics.fmean(stays[False]), 5) if stays[False] else 0.0,
        "mean_slow_s": round(statistics.fmean(stays[True]), 5) if stays[True] else 0.0,
        "seconds": round(seconds, 1),
    }


def _two_means(logs: np.ndarray) -> tuple[float, float]:
    """The two group means of two-means clustering in one dimension."""
    lo, hi = np.percentile(logs, 5), np.percentile(logs, 95)
    for _ in range(100):
        cut = (lo + hi) / 2
        below, above = logs[logs <= cut], logs[logs > cut]
        if not len(above) or not len(below):
            break
        lo, hi = below.mean(), above.mean()
    return float(lo), float(hi)


def _stays(
    traces: list[list[tuple[float, float]]], cut: float
) -> tuple[dict[bool, list[float]], float]:
    """Each stay in the fast (False) and slow (True) state, and the time spent slow: a core
    changes state after :data:`STATE_CHUNKS` chunks in a row on the other side of ``cut``."""
    stays: dict[bool, list[float]] = {False: [], True: []}
    slow_time = 0.0
    for trace in traces:
        state, streak, since = math.log(trace[0][1]) > cut, 0, trace[0][0]
        for start, duration in trace:
            slow = math.log(duration) > cut
            streak = streak + 1 if slow != state else 0
            if streak >= STATE_CHUNKS:
                stays[state].append(start - since)
                state, streak, since = slow, 0, start
            slow_time += duration if state else 0.0
        stays[state].append(trace[-1][0] + trace[-1][1] - since)
    return stays, slow_time


#: The speed gauge's chunk (a quarter to half a millisecond of one core here) and the pause
#: after each: about 1.5 % of each core
GAUGE_LOOPS, GAUGE_EVERY_S = 10_000, 0.02
#: samples each core's gauge keeps (at ~45 a second: more than an hour)
GAUGE_CAPACITY = 200_000


class SpeedGauge:
    """How fast the cores run while the platform runs on them, at ~1.5 % of their time.

    While open, one process pinned to each core times a small fixed chunk of pure-Python
    work every 20 ms by the CPU time its thread got (``time.thread_time``: the chunk's own
    cost, whatever else waits for or takes the core meanwhile). On this VM that cost moves
    by tens of per cent from one second to the next (the cores' two speeds, the share of
    time they spend slow; :func:`speed_states`), and a platform run's throughput moves with
    it: :meth:`mean` over a run's interval is its machine's speed, measured beside it
    instead of before (the probe, ``probe``, before and after a run did not track it)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._cpus = sorted(os.sched_getaffinity(0))
        #: per core: (perf_counter start, thread CPU seconds) of each chunk, and how many
        self._samples = [self._ctx.Array("d", 2 * GAUGE_CAPACITY, lock=False) for _ in self._cpus]
        self._counts = [self._ctx.Value("l", 0, lock=False) for _ in self._cpus]
        #: set to 1 to stop the children (a raw value: an Event's semaphore would start
        #: multiprocessing's resource tracker, a process that outlives the gauge)
        self._stop = self._ctx.Value("b", 0, lock=False)
        self._procs: list = []

    def __enter__(self) -> SpeedGauge:
        self._procs = [
            self._ctx.Process(
                target=_gauge, args=(cpu, os.getpid(), self._stop, samples, count), daemon=True
            )
            for cpu, samples, count in zip(self._cpus, self._samples, self._counts, strict=True)
        ]
        for p in self._procs:
            p.start()
        deadline = time.monotonic() + 30  # a spawned child imports this module first
        while any(c.value == 0 for c in self._counts) and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.value = 1
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()

    def mean(self, start: float, end: float) -> float:
        """Mean CPU seconds of a chunk begun between two ``time.perf_counter`` times, every
        core pooled (NaN: no chunk then)."""
        chunks = []
        for samples, count in zip(self._samples, self._counts, strict=True):
            n = min(count.value, GAUGE_CAPACITY)
            pairs = np.frombuffer(samples, dtype=np.float64, count=2 * n).reshape(n, 2)
            inside = (pairs[:, 0] >= start) & (pairs[:, 0] <= end)
            chunks.append(pairs[inside, 1])
        pooled = np.concatenate(chunks)
        return float(pooled.mean()) if len(pooled) else float("nan")


def _gauge(cpu: int, parent: int, stop: object, samples: object, count: object) -> None:
    """One core's gauge (a SpeedGauge's child): a chunk, its thread CPU time, a pause;
    until told to stop, or its parent is gone (killed before it could tell)."""
    os.sched_setaffinity(0, {cpu})
    clock, cpu_clock, n = time.perf_counter, time.thread_time, 0
    while not stop.value and n < GAUGE_CAPACITY and os.getppid() == parent:  # type: ignore[attr-defined]
        start, spent = clock(), cpu_clock()
        work(GAUGE_LOOPS)
        samples[2 * n], samples[2 * n + 1] = start, cpu_clock() - spent  # type: ignore[index]
        n += 1
        count.value = n  # type: ignore[attr-defined]
        time.sleep(GAUGE_EVERY_S)
