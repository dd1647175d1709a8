"""Service stations for the SimPy model: FCFS servers computed from their free times.

A station with ``c`` servers keeps the time each server is next free. A job arriving at
``now`` with service time ``s`` starts when a server is free and ends ``s`` later; the caller
waits ``end - now`` with one ``env.timeout``. Jobs are placed in the order they arrive (the
order SimPy runs the arrivals), which is exactly first-come-first-served, at one event per
visit instead of the request/hold/release triple of a ``simpy.Resource``: the model stays
fast enough to run a million tasks.

A component that runs on cores shared with others (the *shared* regime: every process on
one machine) is a station coupled to a :class:`Cores` pool: a job needs one of its own
threads and one core at once, and holds both for its service time.
"""

from __future__ import annotations

import heapq
import math


class Cores:
    """C cores shared by every component of one machine, handed out first come, first served."""

    def __init__(self, count: int, speed: float = 1.0) -> None:
        self.free = [0.0] * count
        #: work done per second of a core (below 1 on a VM whose hypervisor steals time)
        self.speed = speed
        self.busy = 0.0

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
        self.free[best] = start + service
        self.busy += service
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
        service *= self.slowdown
        self.busy += service
        self.jobs += 1
        cores = self.cores
        after = (
            0.0
            if on_path == 1.0
            else (1.0 - on_path) * (service / cores.speed if cores else service)
        )
        if not self.servers:
            return (cores.reserve(now, service) if cores else now + service) - after - now
        free = self.free
        ready = now if now > free[0] else free[0]
        end = cores.reserve(ready, service) if cores else ready + service
        if len(free) == 1:
            free[0] = end
        else:
            heapq.heapreplace(free, end)
        return end - after - now

    def next_free(self) -> float:
        """When one of its servers is next free (unbounded: always)."""
        return self.free[0] if self.servers else float("-inf")

    def utilisation(self, elapsed: float) -> float:
        """Busy fraction of its servers over ``elapsed`` seconds (servers=None: of one)."""
        if elapsed <= 0:
            return 0.0
        return self.busy / (elapsed * (self.servers or 1))
