"""The platform as a discrete-event model (SimPy): clients, API, Redis, dispatcher, workers.

One task's life, as the platform lives it (``docs/design.md``) and as ``tasks.csv`` splits it:

    client --POST /execute_function--> API --submit script--> Redis stream     (submit)
    dispatcher intake + dispatch ----------------------------------------------- (intake)
    hop to a process: a pipe (local), a reply to a request (pull), a push (push)  (hop)
    the process runs it: T ms of sleep ---------------------------------------- (run)
    result back, the dispatcher settles it and writes the outcome -------------- (back)
    Redis publishes, the API answers the waiting GET /result?wait=, the client -- (notify)

Each visit to a component costs its calibrated CPU time per task (``Calibration``), and
more when it finds the process idle and wakes it, less when many tasks are in flight
(``ModeCalibration.batched``: the CPU per task measured at one client is about twice the
one at 16 clients, and at 64 up to 29 % less than at 16), spent on a
:class:`~experiments.simulate.stations.Station` with as many servers as the component has
threads: one for Redis, the dispatcher loop, each worker's messaging loop and the load
client; ``api_procs`` for the API; ``procs`` for a worker's pool (which sleeps, no CPU;
the end of a sleeping task wakes the worker again, see ``Platform._execute``).
In the *shared* regime every station also needs one of the machine's cores (the runs on
this machine); in the *dedicated* regime each host has its own. What CPU time does not
explain (wake-ups, system calls, loopback) is a residual per step, drawn from the step's
measured distribution at one client. A network round trip (``rtt_ms``) and a bandwidth add
to every dispatcher-worker message.

The modes differ only in how a task reaches a process, as in ``faas/dispatcher``:
local hands it to a free pool process; push to the worker with the most free slots
(processes + prefetch, and one more per process when tasks are shorter than
``prefetch_short_ms``: the adaptive prefetch of faas/durations.py); pull answers a worker's
request, which asks for as many tasks as it has free processes (and, for short tasks, as
many again to queue), carries its finished results, is held while an idle worker has
nothing to do, and is answered empty when a busy one has nothing (it backs off 1 ms
doubling to 50 ms). Heartbeats slow the dispatcher by the fraction of its time they take.
A failed worker's tasks are requeued when the dispatcher notices (heartbeat timeout), up to
``max_attempts`` dispatches.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import random
import statistics
from collections import deque
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from experiments.simulate.stations import Cores, Station

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from experiments.simulate.calibration import Calibration, ModeCalibration

REGIMES = ("shared", "dedicated")
#: A visit of a task's plan: a station (None: a plain delay), its seconds of service, the
#: seconds more if the visit wakes the station up, and the share the task waits for (see
#: Platform.after and Station.serve)
Visit = tuple["Station | None", float, float, float]


def delay(seconds: float) -> Visit:
    """A visit that is only a wait: no station, no CPU."""
    return (None, seconds, 0.0, 1.0)


#: Bytes on the wire per task each way between dispatcher and worker (a no-op's frame).
FRAME_BYTES = 400


@dataclass(frozen=True)
class Config:
    """One configuration to simulate (the flags of ``simulate predict``)."""

    mode: str
    workers: int = 1
    procs: int = 2
    task_ms: float = 0.0
    clients: int = 1
    tasks: int = 1000
    #: emulated hosts the workers are spread over (0: all on this machine's loopback)
    hosts: int = 0
    #: round trip between the dispatcher and a worker host, on top of loopback's
    rtt_ms: float = 0.0
    #: each worker host's link, Mbit/s (0: not limiting)
    bandwidth_mbit: float = 0.0
    regime: str = "shared"
    #: cores of the shared machine (0: the calibration machine's)
    cores: int = 0
    api_procs: int = 1
    #: dispatchers sharing the queue (Redis's consumer group splits the tasks among them),
    #: each with its own thread and its own workers (remote modes)
    dispatchers: int = 1
    #: open loop: Poisson arrivals per second (0: closed loop of ``clients``)
    rate: float = 0.0
    #: a burst (the benchmark's throughput and weak-scaling load): this many submitters
    #: send every task back to back and as many collectors wait for the results in
    #: submission order (0: no burst)
    submitters: int = 0
    #: how a client waits for a result: None, by long-poll (``GET /result?wait=``); else by
    #: polling ``GET /result``, again this many ms after an unfinished answer, doubling up
    #: to 20 ms (0: again at once, every time), as experiments/load/client.py ``wait`` does
    poll_ms: float | None = None
    #: resolution of the load client's timers, ms: asyncio waits in epoll for whole
    #: milliseconds (rounded up), so a timed send (open loop) or a poll after a pause
    #: starts up to this much late, uniformly; latency still counts from the intended time
    timer_ms: float = 1.0
    #: worker failures per minute per 100 workers (remote modes)
    failures_per_min_per_100: float = 0.0
    #: a failed worker is back (restarted, registered) this long after it died
    restart_s: float = 5.0
    prefetch: int = 0
    #: tasks shorter than this (ms) also queue at a worker, one per process (faas/durations.py)
    prefetch_short_ms: float = 1.0
    #: a step's residual (measured at one client, where every visit wakes its process) is
    #: paid in the share of the step's visits that found their process idle: an awake
    #: process has no wake-up to wait for (the real hop took 0.43-0.49 ms at 4 clients of
    #: pull where it took 0.67-0.79 at one). False: every residual in full
    awake_residuals: bool = True
    #: how fast the machine runs against the calibration (2: twice as fast); every CPU
    #: time and residual is divided by it
    speed: float = 1.0
    #: coefficient of variation of a visit's CPU around its calibrated mean (1: exponential,
    #: 0: every visit exactly the mean). What a turn of a process's loop holds varies; with
    #: constant CPU the saturated held-out runs' p99 came out 13-32 % short (README)
    cpu_cv: float = 1.0
    #: each core switches between the calibration's two measured speeds
    #: (``Calibration.speed_states``; False, or none measured: every core at the mean speed)
    speed_states: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        if self.workers < 1 or self.procs < 1 or self.tasks < 1 or self.clients < 1:
            raise ValueError("workers, procs, tasks and clients must be at least 1")
        if self.submitters < 0 or (self.poll_ms is not None and self.poll_ms < 0):
            raise ValueError("submitters and poll_ms must be at least 0")
        if self.cpu_cv < 0:
            raise ValueError(f"cpu_cv must be at least 0, got {self.cpu_cv}")
        if self.dispatchers < 1 or (self.mode == "local" and self.dispatchers > 1):
            raise ValueError("dispatchers must be at least 1, and 1 in local mode (its pool)")

    @property
    def processes(self) -> int:
        return self.procs if self.mode == "local" else self.workers * self.procs


@dataclass
class Prediction:
    """What one simulated run measured (seconds in, milliseconds out)."""

    throughput_tps: float
    p50_ms: float
    p99_ms: float
    makespan_s: float
    completed: int
    failed: int
    retried: int
    #: busy fraction of each component's servers over the run
    utilisation: dict[str, float] = field(default_factory=dict)
    #: the component with the highest utilisation
    bottleneck: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class Task:
    """One task: when its client sent it, what to call when it is answered, its attempt."""

    __slots__ = ("answered", "attempt", "failed", "sent", "stored", "then", "worker")

    def __init__(self, sent: float, then: Callable[[], None] | None) -> None:
        self.sent = sent
        self.then = then
        self.attempt = 0
        self.answered = False
        self.stored = False  # its outcome is in Redis (what a poll sees)
        self.failed = False
        self.worker: Worker | None = None


class Worker:
    """A worker (local mode: the dispatcher's pool), its processes and messaging loop."""

    def __init__(self, index: int, procs: int, cores: Cores | None) -> None:
        self.index = index
        self.procs = procs
        self.pool = Station(f"pool{index}", procs)  # sleeping processes: no CPU
        self.loop = Station(f"worker{index}", 1, cores)
        self.running: set[Task] = set()
        self.alive = True
        self.epoch = 0
        # pull: finished results not yet handed in, and what wakes the request loop
        self.results: list[Task] = []
        self.wake: simpy.Event | None = None
        self.dispatcher: Dispatcher  # set by the platform

    @property
    def free(self) -> int:
        return self.procs - len(self.running)


class Dispatcher:
    """One dispatcher: its thread, its backlog and its workers (push: their free slots in a
    lazy heap; pull: their requests held while they idle)."""

    def __init__(self, index: int, cores: Cores | None) -> None:
        self.station = Station("dispatcher" if index == 0 else f"dispatcher{index}", 1, cores)
        self.backlog: deque[Task] = deque()
        self.heap: list[tuple[int, int, int]] = []  # push: (-free, tie, worker)
        self.idle_requests: deque[tuple[Worker, int, simpy.Event]] = deque()  # pull
        self.workers: list[Worker] = []


class Platform:
    """The model of one stack; ``run()`` simulates a configuration and returns a Prediction."""

    def __init__(self, config: Config, calibration: Calibration) -> None:
        self.config = config
        self.cal = calibration
        self.m: ModeCalibration = calibration.mode(config.mode)
        self.env = simpy.Environment()
        self.rng = random.Random(config.seed)
        shared = config.regime == "shared"
        self.states = calibration.speed_states if config.speed_states else None
        if config.cores:
            cores = Cores(config.cores, states=self.states, seed=f"cores{config.seed}")
        else:  # the calibration machine, as fast as it was then
            speed = self.m.effective_cores / calibration.cores
            cores = Cores(calibration.cores, speed, self.states, f"cores{config.seed}")
        self.cores = cores if shared else None
        c = self.cores
        self.client = Station("client", 1 if shared else None, c)
        self.api = Station("api", config.api_procs, c)
        self.redis = Station("redis", 1, c)
        self.dispatchers = [Dispatcher(i, c) for i in range(config.dispatchers)]
        self._next_dispatcher = itertools.cycle(self.dispatchers)
        n_workers = 1 if config.mode == "local" else config.workers
        hosts = self._hosts(n_workers)
        self.workers = [Worker(i, config.procs, hosts[i % len(hosts)]) for i in range(n_workers)]
        for w in self.workers:  # each worker registers with one dispatcher
            w.dispatcher = self.dispatchers[w.index % len(self.dispatchers)]
            w.dispatcher.workers.append(w)
        if config.mode == "local":  # the pool's children run the per-task work, in parallel
            self.workers[0].loop = Station("worker0", config.procs, hosts[0])
        self.latencies: list[float] = []
        self._in_flight = 0  # tasks sent and not yet observed
        self.first: float | None = None
        self.last = 0.0
        self.failed = self.retried = 0
        self._tie = itertools.count()
        self._heartbeats()
        for w in self.workers:
            self._offer(w)

    def _hosts(self, n_workers: int) -> list[Cores | None]:
        """The cores each worker runs on: the shared machine's; or, dedicated, its host's
        (``hosts`` hosts, default one per worker, as many cores as this machine)."""
        if self.cores is not None:
            return [self.cores]
        n = min(self.config.hosts or n_workers, n_workers)
        seed, states = self.config.seed, self.states
        return [Cores(self.cal.cores, states=states, seed=f"host{i}-{seed}") for i in range(n)]

    # -- per-step costs -------------------------------------------------------------------

    def cpu(self, component: str, share: float = 1.0) -> tuple[float, float, float]:
        """A visit's CPU: ``share`` of ``component``'s seconds per task, ``share`` of what it
        costs more when the visit wakes the process up, and the part of it the task waits
        for, at the tasks now in flight (``ModeCalibration.batched`` and ``on_share``)."""
        base, wake = self.m.batched(component, self._in_flight)
        share *= self._variation() / self.config.speed
        return base * share, wake * share, self.m.on_share[component]

    @property
    def message_s(self) -> float:
        """The dispatcher's CPU for a message without a task (a heartbeat, a pull worker's
        ask), at the configuration's speed like every other CPU time."""
        return self.m.message_cpu_s / self.config.speed

    def _variation(self) -> float:
        """A visit's CPU against its calibrated mean: 1, or a draw of mean 1 and coefficient
        of variation ``cpu_cv`` (exponential at 1, gamma otherwise)."""
        cv = self.config.cpu_cv
        if cv == 1.0:
            return self.rng.expovariate(1.0)
        if not cv:
            return 1.0
        shape = 1 / cv**2
        return self.rng.gammavariate(shape, 1 / shape)

    def after(self, plan: list[Visit], then: Callable[[], object]) -> None:
        """Do the visits of ``plan`` one after the other, then call ``then``. A visit is a
        station, the seconds of service it gives, the seconds more if it wakes the station
        up and the share of it the task waits for (:meth:`Station.serve`), or None and a
        plain delay (a step's residual, marked by a third field of 1: only the share of
        the visits since the last delay that found their process idle, see
        ``Config.awake_residuals``).

        Each visit to a station with a bounded number of servers is placed when the task
        arrives there, on its own event: the station serves first come, first served, and
        never sits idle for a job that has not arrived (placing a visit ahead of time
        would block it for the jobs arriving meanwhile). A station on cores (a process on a
        machine's cores) asks for a core only when it can start the job — the task is
        there and one of its threads is free — so the cores go round the processes ready
        to run, as the kernel's scheduler shares them, instead of to a queue of jobs
        booked ahead by a process with a backlog. Plain delays, and stations with
        unbounded servers, ride on the event before them: a task costs about eight events,
        fast enough for a million tasks."""
        _Walk(self.env, self.config.awake_residuals, plan, then).run(0)

    def residual(self, step: str) -> Visit:
        """A draw of the step's time not explained by CPU (measured at one client): a delay
        marked (its third field) as paid in the share of the step's visits that woke their
        process (``Config.awake_residuals``)."""
        return (None, self.m.residual(step, self.rng.random()) / self.config.speed, 1.0, 1.0)

    def wire_s(self) -> float:
        """One-way time of a dispatcher-worker message beyond loopback."""
        c = self.config
        one_way = c.rtt_ms / 2000
        if c.bandwidth_mbit:
            one_way += FRAME_BYTES * 8 / (c.bandwidth_mbit * 1e6)
        return one_way

    def _heartbeats(self) -> None:
        """Heartbeats take W / interval messages a second of each dispatcher's one thread
        (W: its workers)."""
        if self.config.mode == "local":
            return
        for d in self.dispatchers:
            load = len(d.workers) / self.cal.heartbeat_s * self.message_s
            d.station.slowdown = 1 / max(1e-3, 1 - load)

    # -- clients ----------------------------------------------------------------------------

    def run(self) -> Prediction:
        c = self.config
        self._remaining = c.tasks
        self._finished = self.env.event()
        self._unsent = c.tasks
        if c.rate:
            self.env.process(self._open_loop())
        elif c.submitters:
            self._to_collect: deque[Task] = deque()
            self._idle_collectors = c.submitters
            for _ in range(c.submitters):
                self._next_burst()
        else:
            for _ in range(c.clients):
                self._next()
        if c.failures_per_min_per_100 and c.mode != "local":
            self.env.process(self._failures())
        self.env.run(until=self._finished)
        return self._prediction()

    def _next(self) -> None:
        """A closed-loop client sends its next task, if any is left."""
        if self._unsent:
            self._unsent -= 1
            self._submit(self._next)

    def _next_burst(self) -> None:
        """A burst's submitter sends its next task as soon as the last one was accepted;
        the accepted task waits for a free collector."""
        if self._unsent:
            self._unsent -= 1
            self._submit(None, self._burst_accepted)

    def _burst_accepted(self, task: Task) -> None:
        task.answered = True  # nobody asks for its result until a collector takes it
        self._next_burst()
        self._to_collect.append(task)
        if self._idle_collectors:
            self._idle_collectors -= 1
            self._collect()

    def _collect(self) -> None:
        """A collector polls for the oldest accepted task's result, then the next one's."""
        if not self._to_collect:
            self._idle_collectors += 1
            return
        task = self._to_collect.popleft()
        task.then = self._collect
        if self.config.poll_ms is None:  # by long-poll: answered when stored, or now
            task.answered = False
            if task.stored:
                self._answer(task)
            return
        self._poll(task, self.config.poll_ms)

    def _poll(self, task: Task, interval_ms: float) -> None:
        """One ``GET /result``: the request reaches the API, which reads the task; an
        unfinished answer means another poll ``interval_ms`` later (doubling to 20 ms)."""

        def answered() -> None:
            if task.stored:
                self._observed(task)
                return
            again = min(2 * interval_ms, 20.0) if interval_ms else 0.0
            pause = interval_ms / 1000
            if pause:  # a timed wait: the client's timer wakes it up to timer_ms late
                pause += self.rng.random() * self.config.timer_ms / 1000
            self.after([delay(pause)], lambda: self._poll(task, again))

        plan = [
            self.residual("submit"),
            (self.client, *self.cpu("client", 0.5)),
            (self.api, *self.cpu("api_result")),
        ]
        self.after(plan, answered)

    def _open_loop(self) -> Generator:
        for _ in range(self.config.tasks):
            arrival = self.env.now
            late = self.rng.random() * self.config.timer_ms / 1000
            self.after([delay(late)], partial(self._submit, None, sent=arrival))
            yield self.env.timeout(self.rng.expovariate(self.config.rate))

    def _submit(
        self,
        then: Callable[[], None] | None,
        accepted: Callable[[Task], None] | None = None,
        sent: float | None = None,
    ) -> None:
        """POST /execute_function: client, API, Redis (the task is accepted: ``accepted``
        is called, a polling client starts polling); then the dispatcher's intake. Latency
        counts from ``sent`` (default: now)."""
        task = Task(self.env.now if sent is None else sent, then)
        self._in_flight += 1
        if self.first is None:
            self.first = task.sent
        cpu = self.cpu
        plan = [
            (self.client, *cpu("client", 0.5)),
            (self.api, *cpu("api_submit")),
            (self.redis, *cpu("redis", 0.5)),
            self.residual("submit"),
        ]
        polling = self.config.poll_ms is not None and accepted is None

        def on_accepted() -> None:
            if accepted is not None:
                accepted(task)
            elif polling:
                self._poll(task, self.config.poll_ms or 0.0)
            d = next(self._next_dispatcher)
            intake = [
                (d.station, *cpu("dispatcher", 0.5)),
                self.residual("intake"),
            ]
            self.after(intake, lambda: self._queued(task, d))

        self.after(plan, on_accepted)

    def _queued(self, task: Task, d: Dispatcher) -> None:
        d.backlog.append(task)
        self._dispatch(d)

    def _answer_all(self, tasks: list[Task]) -> None:
        for task in tasks:
            self._answer(task)

    def _answer(self, task: Task) -> None:
        """The outcome is stored: Redis publishes, the API answers the waiting GET (a
        polling client sees it at its next poll)."""
        task.stored = True
        if task.answered:  # answered already, or no collector has asked for it yet
            return
        task.answered = True
        if self.config.poll_ms is not None:
            return
        cpu = self.cpu
        plan = [
            (self.api, *cpu("api_result")),
            (self.client, *cpu("client", 0.5)),
            self.residual("notify"),
        ]
        self.after(plan, lambda: self._observed(task))

    def _observed(self, task: Task) -> None:
        now = self.env.now
        self._in_flight -= 1
        self.latencies.append(now - task.sent)
        self.last = now
        self._remaining -= 1
        if not self._remaining:
            self._finished.succeed()
        elif task.then is not None:
            task.then()

    # -- the dispatcher ---------------------------------------------------------------------

    def _dispatch(self, d: Dispatcher) -> None:
        """Hand ``d``'s backlog tasks to its workers' processes the way the mode does."""
        if self.config.mode == "pull":
            while d.backlog and d.idle_requests:
                worker, epoch, reply = d.idle_requests.popleft()
                if worker.alive and worker.epoch == epoch:
                    reply.succeed(self._take(worker))
            return
        while d.backlog:
            most_free = self._most_free(d)
            if most_free is None:
                return
            worker = most_free
            self._send(worker, [d.backlog.popleft()])

    def _take(self, worker: Worker) -> list[Task]:
        backlog = worker.dispatcher.backlog
        n = min(self._slots(worker), len(backlog))
        tasks = [backlog.popleft() for _ in range(n)]
        for task in tasks:
            self._assign(task, worker)
        return tasks

    def _assign(self, task: Task, worker: Worker) -> None:
        task.attempt += 1
        task.worker = worker
        worker.running.add(task)

    def _offer(self, worker: Worker) -> None:
        """Push/local: note a worker's free slots (lazy heap: stale entries skipped)."""
        if self.config.mode == "pull":
            self.env.process(self._pull_loop(worker))
            return
        heapq.heappush(
            worker.dispatcher.heap, (-self._slots(worker), next(self._tie), worker.index)
        )

    def _slots(self, worker: Worker) -> int:
        """Tasks the worker can take now: its free processes, and in the remote modes room
        to queue (push's fixed prefetch; one per process for short tasks)."""
        if self.config.mode == "local":
            return worker.free
        c = self.config
        queued = worker.procs if c.task_ms < c.prefetch_short_ms else 0
        return worker.free + queued + (c.prefetch if c.mode == "push" else 0)

    def _most_free(self, d: Dispatcher) -> Worker | None:
        heap = d.heap
        while heap:
            neg, _, index = heap[0]
            worker = self.workers[index]
            if not worker.alive or -neg != self._slots(worker):
                heapq.heappop(heap)
                continue
            return worker if -neg > 0 else None
        return None

    def _send(self, worker: Worker, tasks: list[Task]) -> None:
        for task in tasks:
            self._assign(task, worker)
            self._execute(task, worker, worker.epoch)
        heapq.heapreplace(
            worker.dispatcher.heap, (-self._slots(worker), next(self._tie), worker.index)
        )

    def _execute(self, task: Task, worker: Worker, epoch: int) -> None:
        """The task travels to the worker and runs; its result is on its way back. The
        worker's CPU per task (receiving, sending back) is charged on receipt: charged
        after the run, the visit would come a task's length after the next receipt.

        A task that sleeps (``task_ms`` > 0) lets the worker fall asleep too, and its end
        wakes it again: the process that ran it, and in the remote modes the loop that
        hands the result on. That visit costs what a visit that wakes the worker costs
        more (the one-client CPU over a running turn's), nothing if it finds the worker
        busy. A no-op's result comes back in the turn that handed it out, as calibrated.
        (Without this visit the model's worker CPU per task stays flat from no-op to
        sleeping tasks, where the measured one grows.)"""
        wire = self.wire_s() if self.config.mode != "local" else 0.0
        plan = [
            delay(wire),
            (worker.loop, *self.cpu("worker")),
            self.residual("hop"),
            (worker.pool, self.config.task_ms / 1000, 0.0, 1.0),
        ]
        if self.config.task_ms:
            _, wake, on = self.cpu("worker")
            if wake:
                plan.append((worker.loop, 0.0, wake, on))
        self.after(plan, lambda: self._ran(task, worker, epoch, wire))

    def _ran(self, task: Task, worker: Worker, epoch: int, wire: float) -> None:
        if worker.epoch != epoch:
            return  # the worker died meanwhile: the dispatcher requeues the task
        if self.config.mode == "pull":  # handed in with the next request
            worker.results.append(task)
            if worker.wake is not None and not worker.wake.triggered:
                worker.wake.succeed()
        elif wire:
            self.after([delay(wire)], lambda: self._arrived(task, worker, epoch))
        else:
            self._arrived(task, worker, epoch)

    def _arrived(self, task: Task, worker: Worker, epoch: int) -> None:
        if worker.epoch == epoch:
            self._release([task], worker)
            self._settle([task], worker.dispatcher)

    def _release(self, tasks: list[Task], worker: Worker) -> None:
        """Results reached the dispatcher: their processes are free (push, local: refill)."""
        for task in tasks:
            worker.running.discard(task)
        if self.config.mode != "pull":
            d = worker.dispatcher
            heapq.heappush(d.heap, (-self._slots(worker), next(self._tie), worker.index))
            self._dispatch(d)

    def _settle(self, tasks: list[Task], d: Dispatcher) -> None:
        """The dispatcher settles results and the writer records their outcomes, a batch
        in one turn of each."""
        n = len(tasks)
        dispatcher, d_wake, d_on = self.cpu("dispatcher", 0.5)
        redis, r_wake, r_on = self.cpu("redis", 0.5)
        plan = [
            (d.station, dispatcher * n, d_wake, d_on),
            (self.redis, redis * n, r_wake, r_on),
            self.residual("back"),
        ]
        self.after(plan, partial(self._answer_all, tasks))

    # -- pull: the worker's request loop --------------------------------------------------

    def _pull_loop(self, worker: Worker) -> Generator[simpy.Event, Any, None]:
        env, backoff, epoch, d = self.env, 0.0, worker.epoch, worker.dispatcher
        while worker.alive and worker.epoch == epoch:
            if not worker.results and self._slots(worker) <= 0:  # nothing to hand in or ask for
                worker.wake = env.event()
                yield worker.wake
                continue
            results, worker.results = worker.results, []
            idle = len(worker.running) == len(results)  # finished ones run no more
            wire = self.wire_s()
            yield from self._request(d, wire, results)
            if worker.epoch != epoch:
                return  # died with the request out: what it ran was requeued
            if results:
                self._release(results, worker)
                self._settle(results, d)
            tasks = yield from self._reply(worker, epoch, idle)
            if wire:
                yield env.timeout(wire)
            for task in tasks:
                self._execute(task, worker, epoch)
            if tasks or worker.results or self._slots(worker) <= 0:
                backoff = 0.0 if tasks else backoff
                continue
            backoff = min(0.05, backoff * 2 or 0.001)  # busy, got nothing: ask again later
            worker.wake = env.event()
            yield env.any_of([worker.wake, env.timeout(backoff)])

    def _request(
        self, d: Dispatcher, wire: float, results: list[Task]
    ) -> Generator[simpy.Event, Any, None]:
        """A pull request reaching the dispatcher and handled there. Handing results in is
        part of their tasks' measured CPU; a request without costs a message (its CPU
        measured on an idle dispatcher, waking included) — also the one a busy worker sends
        while its task runs at one client, which the calibration's one-client CPU holds
        already: 0.2 of 2.3 ms counted twice."""
        handled = self.env.event()
        cost = 0.0 if results else self.message_s
        self.after([delay(wire), (d.station, cost, 0.0, 1.0)], handled.succeed)
        yield handled

    def _reply(
        self, worker: Worker, epoch: int, idle: bool
    ) -> Generator[simpy.Event, Any, list[Task]]:
        """The tasks a request gets: from the backlog, or (an idle worker with nothing to
        hand in) held until work arrives, or none."""
        d = worker.dispatcher
        if self._slots(worker) > 0 and d.backlog:
            return self._take(worker)
        if idle and not worker.results:
            reply = self.env.event()
            d.idle_requests.append((worker, epoch, reply))
            tasks: list[Task] = yield reply
            return tasks
        return []

    # -- failures ---------------------------------------------------------------------------

    def _failures(self) -> Generator:
        c = self.config
        rate = c.failures_per_min_per_100 / 60 * len(self.workers) / 100
        while True:
            yield self.env.timeout(self.rng.expovariate(rate))
            worker = self.rng.choice(self.workers)
            if worker.alive:
                self.env.process(self._fail(worker))

    def _fail(self, worker: Worker) -> Generator:
        """The worker dies: its tasks are lost until the dispatcher notices, then requeued."""
        worker.alive, worker.epoch = False, worker.epoch + 1
        lost, worker.running, worker.results = list(worker.running), set(), []
        if worker.wake is not None and not worker.wake.triggered:
            worker.wake.succeed()
        noticed = self.cal.heartbeat_timeout_s + self.rng.random() * self.cal.heartbeat_s
        yield self.env.timeout(min(noticed, self.config.restart_s))
        for task in lost:
            if task.attempt >= self.cal.max_attempts:
                self.failed += 1
                task.failed = True
                self._answer(task)
            else:
                self.retried += 1
                worker.dispatcher.backlog.appendleft(task)
        self._dispatch(worker.dispatcher)
        yield self.env.timeout(max(0.0, self.config.restart_s - noticed))
        worker.alive = True
        self._offer(worker)
        self._dispatch(worker.dispatcher)

    # -- the answer -------------------------------------------------------------------------

    def _prediction(self) -> Prediction:
        elapsed = self.last - (self.first if self.first is not None else self.last)
        lat = sorted(self.latencies)
        stations = [self.client, self.api, self.redis]
        util = {s.name: s.utilisation(elapsed) for s in stations}
        # the busiest dispatcher's thread (the queue splits the tasks evenly among them)
        util["dispatcher"] = max(d.station.utilisation(elapsed) for d in self.dispatchers)
        util["workers"] = statistics.fmean(w.loop.utilisation(elapsed) for w in self.workers)
        if self.cores is not None:
            util["cores"] = self.cores.busy / (elapsed * len(self.cores.free)) if elapsed else 0
        return Prediction(
            throughput_tps=len(lat) / elapsed if elapsed > 0 else float("nan"),
            p50_ms=1000 * _quantile(lat, 0.5),
            p99_ms=1000 * _quantile(lat, 0.99),
            makespan_s=elapsed,
            completed=len(lat) - self.failed,
            failed=self.failed,
            retried=self.retried,
            utilisation={k: round(v, 4) for k, v in util.items()},
            # a station with unbounded servers (the clients, dedicated) never saturates
            bottleneck=max(
                (k for k in util if k != "client" or self.client.servers), key=lambda k: util[k]
            ),
        )


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile with the estimator the measured side uses (pandas' and numpy's
    default: linear interpolation between the closest ranks), so both sides agree."""
    return float(np.quantile(values, q)) if values else float("nan")


def simulate(config: Config, calibration: Calibration) -> Prediction:
    """Simulate ``config`` on a platform calibrated by ``calibration``.

    Python's cyclic garbage collector is paused meanwhile: the model's objects are freed by
    reference counting as tasks end, and the collector's passes over millions of live
    objects cost more than the model itself (1 000 000 tasks over 10 000 processes, measured
    once minutes apart on the 2-core VM: 164 s with it, 73 s without). Whatever cycles
    remain are collected after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return Platform(config, calibration).run()
    finally:
        if paused:
            gc.enable()


class _Walk:
    """One task's way through a plan of visits (:meth:`Simulation.after`): where it is, and
    the visits since the last delay (how many found their process idle)."""

    __slots__ = ("awake", "env", "idle", "plan", "seen", "then")

    def __init__(
        self, env: simpy.Environment, awake: bool, plan: list[Visit], then: Callable[[], object]
    ) -> None:
        self.env, self.awake, self.plan, self.then = env, awake, plan, then
        self.seen = self.idle = 0

    def note(self, station: Station, t: float, queued: bool) -> None:
        if self.awake:
            self.seen += 1
            if not queued and (not station.servers or station.free[0] <= t):
                self.idle += 1

    def _resume(self, start: int, queued: bool, _event: simpy.events.Event) -> None:
        self.run(start, queued)

    def _finish(self, _event: simpy.events.Event) -> None:
        self.then()

    def later(self, t: float, resume: Callable[[simpy.events.Event], None]) -> None:
        self.env.timeout(t - self.env.now).callbacks.append(resume)

    def run(self, start: int, queued: bool = False) -> None:
        t, placed, plan = self.env.now, False, self.plan
        for i in range(start, len(plan)):
            station, seconds, wake, on = plan[i]
            if station is None:
                if wake and self.awake and self.seen:
                    seconds *= self.idle / self.seen
                self.seen = self.idle = 0
                t += seconds
            elif station.cores is not None:
                # a process asks for a core when it can run the job: now, with one of its
                # threads free (else it asks again when one frees, and the job is taken in
                # the turn that was going on when it arrived)
                free = station.next_free()
                if (t if t > free else free) > self.env.now:
                    q = free > t
                    return self.later(max(t, free), partial(self._resume, i, q))
                self.note(station, t, queued and i == start)
                t += station.serve(t, seconds, wake, on, queued and i == start)
            elif station.servers is not None and placed:
                return self.later(t, partial(self._resume, i, False))
            else:
                self.note(station, t, False)
                t += station.serve(t, seconds, wake, on)
                placed = placed or station.servers is not None
        if t > self.env.now:
            self.later(t, self._finish)
        else:
            self.then()
