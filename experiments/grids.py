"""The experiment grids: every configuration a sweep runs, declared in one place.

A :class:`Run` is one measurement: a study, a stack shape (mode, workers, processes per
worker), a workload with its argument, how many tasks, and how they are sent (``open`` loop:
all at once, results collected concurrently; ``sequential``: one after another, for
latency). ``repeats`` runs of each give the spread.
"""

from __future__ import annotations

from dataclasses import dataclass

from faas.models import Mode


@dataclass(frozen=True)
class Run:
    """One configuration to measure."""

    study: str  # throughput | weak_scaling | latency | payload | hosts_* (emulated hosts)
    mode: str
    workers: int  # pull/push workers; 1 in local mode
    procs: int  # processes per worker (the pool size in local mode)
    workload: str  # noop | sleep | cpu | echo
    arg: float  # sleep seconds, cpu iterations, or echo payload bytes
    tasks: int
    loop: str = "open"  # open | sequential
    #: emulated hosts (experiments/hosts.py), one worker each; 0: every process on loopback
    hosts: int = 0
    #: each host's link rate (``tc tbf``), e.g. "100mbit"; "unshaped" for none
    link: str = "unshaped"

    @property
    def processes(self) -> int:
        """Processes that run tasks."""
        return self.workers * self.procs

    @property
    def stack(self) -> tuple[str, int, int, int, str]:
        """Runs with the same stack shape share one stack."""
        return self.mode, self.workers, self.procs, self.hosts, self.link


def _shape(mode: str, processes: int) -> tuple[int, int]:
    """(workers, procs per worker) giving ``processes``: local has one pool; remote modes
    use up to 4 processes per worker."""
    if mode == Mode.LOCAL:
        return 1, processes
    procs = min(processes, 4)
    return processes // procs, procs


def grid(quick: bool = False) -> tuple[list[Run], int]:
    """The runs of the default or quick sweep, and the repeats of each (how long they take:
    the README's "Benchmark report")."""
    scale = [1, 2, 4] if quick else [1, 2, 4, 8, 16, 32]
    noop_tasks, cpu_tasks = (300, 40) if quick else (2000, 200)
    runs: list[Run] = []
    for mode in Mode:
        for processes in [1, 2] if quick else [1, 2, 4]:
            w, p = _shape(mode, processes)
            runs.append(Run("throughput", mode, w, p, "noop", 0, noop_tasks))
            runs.append(Run("throughput", mode, w, p, "cpu", 200_000, cpu_tasks))
        for processes in scale:  # weak scaling: 4 tasks of 0.2 s per process
            w, p = _shape(mode, processes)
            runs.append(Run("weak_scaling", mode, w, p, "sleep", 0.2, 4 * processes))
        runs.append(Run("latency", mode, 1, 2, "noop", 0, 60 if quick else 300, "sequential"))
        for size in (
            [1_000, 100_000, 1_000_000] if quick else [1_000, 10_000, 100_000, 1_000_000, 4_000_000]
        ):
            runs.append(Run("payload", mode, 1, 2, "echo", size, 3 if quick else 10, "sequential"))
    return runs + host_runs(quick), (2 if quick else 3)


def host_runs(quick: bool = False) -> list[Run]:
    """The ``hosts`` axis (remote modes, one worker per emulated host): weak scaling
    (4 x ``sleep(0.2)`` per process, 4 processes per host) and no-op throughput against
    1-8 hosts; echo latency over links limited to 100 Mbit/s and 1 Gbit/s. The quick grid
    has one 2-host point per mode."""
    runs = []
    for mode in Mode.remote():
        for hosts in [2] if quick else [1, 2, 4, 8]:
            runs.append(Run("hosts_weak", mode, hosts, 4, "sleep", 0.2, 16 * hosts, hosts=hosts))
            if not quick:
                runs.append(Run("hosts_throughput", mode, hosts, 2, "noop", 0, 2000, hosts=hosts))
        if quick:
            continue
        for rate in ("100mbit", "1gbit"):
            for size in (1_000, 100_000, 1_000_000, 4_000_000):
                runs.append(
                    Run("hosts_payload", mode, 1, 2, "echo", size, 5, "sequential", 1, rate)
                )
    return runs


@dataclass(frozen=True)
class Baselines:
    """Sizes of the studies outside the grid: faas against Celery, the dispatcher fed
    directly from Redis, and the largest weak-scaling point on emulated hosts (see
    experiments/peer.py, experiments/dispatcher_bench.py and experiments/hosts.py)."""

    peer_tasks: int
    peer_batch_tasks: int
    peer_latency_tasks: int
    direct_tasks: int
    repeats: int
    #: (hosts, processes per host) of the large weak-scaling point on emulated hosts
    #: (``python -m experiments.hosts weak-scaling``); None: not run
    hosts_weak: tuple[int, int] | None = None


def baselines(quick: bool = False) -> Baselines:
    """The baseline studies of the default or quick sweep."""
    if quick:
        return Baselines(320, 500, 40, 2000, 2)
    return Baselines(3000, 5000, 300, 20_000, 3, hosts_weak=(8, 32))
