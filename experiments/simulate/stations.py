"""Service stations for the SimPy model: FCFS servers computed from their free times.

A station with ``c`` servers keeps the time each server is next free. A job arriving at
``now`` with service time ``s`` starts when a server is free and ends ``s`` later; the caller
waits ``end - now`` with one ``env.timeout``. Jobs are placed in the order they arrive (the
order SimPy runs the arrivals), which is exactly first-come-first-served, at one event per
visit instead of the request/hold/release triple of a ``simpy.Resource``: the model stays
fast enough to run a million tasks.

A component that runs on cores shared with others (the *shared* regime: every process on
one machine) is a station coupled to a :class:`Cores` pool: a job needs one of its own
threads and one core at once, and holds both for its service time. Each core may switch
between a fast and a slow speed (``states``, measured by ``experiments.measure.cpu.speed_states``):
a job runs at the speed of its core when it starts.
"""

from __future__ import annotations

import heapq
import math
import random


class Cores:
    """C cores shared by every component of one machine, handed out first come, first served.

    ``states``: each core alternates, independently, between a fast and a slow speed
    (``ratio`` times slower) and stays in each an exponential time of mean ``mean_fast_s``
    or ``mean_slow_s``; the fast speed is set so that the cores do on average the work of
    ``speed`` (a CPU time measured on the machine is an average over the two)."""

    def __init__(
        self, count: int, speed: float = 1.0, states: dict | None = None, seed: int | str = 0
    ) -> None:
        self.free = [0.0] * count
        #: work done per second of a core (below 1 on a VM whose hypervisor steals time)
        self.speed = speed
        self.busy = 0.0
        #: how long the last job reserved runs (its service at the core's speed)
        self.last = 0.0
        self.states = None
        if states and states["ratio"] > 1 and states["mean_slow_s"] > 0:
            ratio, share = states["ratio"], states["slow_share"]
            fast = 1 / ((1 - share) + share / ratio)  # work per second of a fast core
            self.states = (ratio / fast, 1 / fast, states["mean_slow_s"], states["mean_fast_s"])
            self._rng = random.Random(seed)
            #: per core: whether it is slow now and when it switches next
            self._slow = [self._rng.random() < share for _ in range(count)]
            self._until = [self._stay(slow) for slow in self._slow]

    def _stay(self, slow: bool) -> float:
        assert self.states is not None
        return self._rng.expovariate(1 / self.states[2 if slow else 3])

    def slowdown(self, core: int, at: float) -> float:
        """How much longer than at mean speed a job takes that starts on ``core`` at ``at``."""
        if self.states is None:
            return 1.0
        until, slow = self._until[core], self._slow[core]
        while until <= at:
            slow = not slow
            until += self._stay(slow)
        self._until[core], self._slow[core] = until, slow
        return self.states[0] if slow else self.states[1]

    def reserve(self, ready: float, service: float) -> float:
        """Run ``service`` seconds on the core that lets the job start soonest at or after
        ``ready`` (among those free by then, the one freed last: less idle time wasted).
        Returns the end time."""
        service /= self.speed
        best, start = 0, math.inf
        for i, free in enumerate(self.free):
            begin = max(ready, free)
            if begin < start or (begin == start and free > self.free[best]):
                best, start = i, begin
        if self.states is not None:
            service *= self.slowdown(best, start)
        self.free[best] = start + service
        self.busy += service
        self.last = service
        return start + service


class Station:
    """``servers`` FCFS servers (None: as many as needed, a pure delay), optionally on
    shared ``cores``. ``busy`` sums the service given, for utilisation."""

    def __init__(self, name: str, servers: int | None, cores: Cores | None = None) -> None:
        self.name = name
        self.servers = servers
        self.free = [0.0] * servers if servers else []
        self.cores = cores
        self.busy = 0.0
        self.jobs = 0
        #: jobs that paid the wake-up (found a thread idle)
        self.woke = 0
        #: multiplies every service time (background load, e.g. heartbeats; 1: none)
        self.slowdown = 1.0

    def serve(
        self,
        now: float,
        service: float,
        wake: float = 0.0,
        on_path: float = 1.0,
        queued: bool = False,
    ) -> float:
        """Place a job arriving at ``now``; returns how long until the job's task can go on.

        ``wake``: the CPU its process spends waking up for a job (a turn of its event loop,
        the system calls around it), paid only by a job that finds a thread idle; a job
        that arrives while the station works (``queued``: it waited for a thread, or the
        thread is busy at ``now``) is taken in the same turn. ``on_path``: the share of the
        service the task waits for (the reply is sent); the rest keeps the thread and its
        core busy after the task has gone on (bookkeeping after the reply)."""
        if wake and not queued and (not self.servers or self.free[0] <= now):
            service += wake
            self.woke += 1
        service *= self.slowdown
        self.busy += service
        self.jobs += 1
        cores = self.cores
        if not self.servers:
            end = cores.reserve(now, service) if cores else now + service
        else:
            free = self.free
            ready = now if now > free[0] else free[0]
            end = cores.reserve(ready, service) if cores else ready + service
            if len(free) == 1:
                free[0] = end
            else:
                heapq.heapreplace(free, end)
        if on_path != 1.0:  # the task goes on before the job's end
            end -= (1.0 - on_path) * (cores.last if cores else service)
        return end - now

    def next_free(self) -> float:
        """When one of its servers is next free (unbounded: always)."""
        return self.free[0] if self.servers else float("-inf")

    def utilisation(self, elapsed: float) -> float:
        """Busy fraction of its servers over ``elapsed`` seconds (servers=None: of one)."""
        if elapsed <= 0:
            return 0.0
        return self.busy / (elapsed * (self.servers or 1))
