"""What a sweep runs: :class:`Run` (one configuration) and :class:`Baselines`.

A :class:`Run` is one measurement: a study, a stack shape (mode, workers, processes per
worker, emulated hosts), a workload with its argument, how many tasks, and how they are sent
(the load). ``repeats`` runs of each give the spread. The grids themselves are data: the
TOML specs in ``experiments/specs/`` (``full.toml``, the default; ``quick.toml``), read by
:mod:`experiments.spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from faas.models import Mode

#: how tasks are sent: burst (all at once, 16 concurrent submitters, results collected
#: concurrently) | sequential (one at a time) | closed (``clients`` clients, each submit then
#: long-poll) | poisson (open loop, arrivals at ``rate`` tasks/s)
Loop = Literal["burst", "sequential", "closed", "poisson"]
#: the built-in workloads (:mod:`experiments.spec.workloads`); a user's function is named by
#: its own name
BuiltinWorkload = Literal["noop", "sleep", "cpu", "echo"]

#: A Poisson rate is sustained while the achieved throughput is at least this share of it
#: (``stop_at_saturation`` skips the higher rates of a curve once one is not).
SUSTAINED = 0.9


class StackShape(NamedTuple):
    """What a stack is started with: runs of the same shape share one stack."""

    mode: Mode
    workers: int
    procs: int
    hosts: int
    link: str

    def order(self) -> tuple[int, str, int, str]:
        """Loopback shapes first, then by mode and size: the sweep's order."""
        return self.hosts, self.mode, self.workers * self.procs, self.link


@dataclass(frozen=True)
class Run:
    """One configuration to measure."""

    study: str  # throughput | weak_scaling | latency | payload | hosts_* | the spec's own
    mode: Mode
    workers: int  # pull/push workers; 1 in local mode
    procs: int  # processes per worker (the pool size in local mode)
    workload: BuiltinWorkload | str  # a built-in, or a user function's name
    arg: float  # sleep seconds, cpu iterations, or echo payload bytes
    tasks: int
    loop: Loop = "burst"
    #: emulated hosts (experiments/hosts/), one worker each; 0: every process on loopback
    hosts: int = 0
    #: each host's link rate (``tc tbf``), e.g. "100mbit"; "unshaped" for none
    link: str = "unshaped"
    #: a user workload: "path/to/file.py:function" ("" for the built-ins) and the JSON of
    #: its [args, kwargs]
    function: str = ""
    args: str = ""
    clients: int = 0  # closed loop: clients
    rate: float = 0.0  # poisson: offered tasks/s
    #: poisson: skip this study's higher rates (same stack and workload) once one saturates
    stop_at_saturation: bool = False
    seed: int = 1  # poisson: the arrival times' random seed
    #: poisson, no-op: run the same arrivals against Celery too (``celery_curve.csv``)
    celery: bool = False

    @property
    def processes(self) -> int:
        """Processes that run tasks."""
        return self.workers * self.procs

    @property
    def stack(self) -> StackShape:
        """Runs with the same stack shape share one stack."""
        return StackShape(Mode(self.mode), self.workers, self.procs, self.hosts, self.link)


def shape(mode: str, processes: int) -> tuple[int, int]:
    """(workers, procs per worker) giving ``processes``: local has one pool; remote modes
    use up to 4 processes per worker."""
    if mode == Mode.LOCAL:
        return 1, processes
    procs = min(processes, 4)
    return processes // procs, procs


@dataclass(frozen=True)
class Baselines:
    """Sizes of the studies outside the grid: faas against Celery, the dispatcher fed
    directly from Redis, and the largest weak-scaling point on emulated hosts (see
    experiments/sweep/celery.py, experiments/sweep/dispatcher.py and experiments/hosts/)."""

    celery_tasks: int
    celery_batch_tasks: int
    celery_latency_tasks: int
    direct_tasks: int
    repeats: int
    #: (hosts, processes per host) of the large weak-scaling point on emulated hosts
    #: (``python -m experiments.hosts weak-scaling``); None: not run
    hosts_weak: tuple[int, int] | None = None
    #: seconds per measurement of the API alone (``experiments/sweep/api.py``); 0: not run
    api_seconds: float = 0.0
