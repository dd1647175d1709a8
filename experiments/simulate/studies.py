"""``simulate extrapolate``: the questions one machine cannot answer, in the dedicated regime.

Every study runs the calibrated model with each component on its own cores (the API host
with ``api_procs`` cores, Redis and the dispatcher a core each, every worker host its own),
the per-step residuals this machine measured, and Settings' heartbeat and retry defaults.

- ``scale``: throughput, p50 and p99 against processes (10 … 10 000; workers of 10
  processes) per mode, for no-op, 10 ms and 1 s tasks; closed loop with one client per
  process (every process can be busy), and which component saturates;
- ``rtt``: pull against push over dispatcher-worker round trips of 0.05 … 10 ms;
- ``api``: what more API processes buy when the API saturates;
- ``dispatchers``: what more dispatchers buy (each with its own workers, sharing the queue)
  once the API has processes enough;
- ``failures``: retries, tasks lost for good and p99 at worker failure rates of 0 … 1 per
  minute per 100 workers;
- ``speed``: the simulator's own speed (simulated tasks per wall-second).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from typing import Any

import pandas as pd
from tqdm import tqdm

from experiments.simulate.calibration import Calibration
from experiments.simulate.model import Config, simulate

log = logging.getLogger(__name__)

MODES = ("local", "pull", "push")
PROCESSES = (10, 30, 100, 300, 1000, 3000, 10_000)
TASK_MS = (0.0, 10.0, 1000.0)
RTTS_MS = (0.05, 0.5, 1.0, 5.0, 10.0)
FAILURE_RATES = (0.0, 0.25, 0.5, 1.0)
PROCS_PER_WORKER = 10


def _tasks(clients: int, task_ms: float) -> int:
    """Enough tasks for a steady state: each client's share at least 5, no fewer than 3 000,
    and no more than about 20 simulated seconds of the largest runs."""
    return max(3000, min(5 * clients, int(20_000 * clients / max(task_ms, 1.0))))


def scale_configs() -> list[Config]:
    out = []
    for mode in MODES:
        for processes in PROCESSES:
            for task_ms in TASK_MS:
                workers = max(1, processes // PROCS_PER_WORKER)
                procs = processes if mode == "local" else min(processes, PROCS_PER_WORKER)
                out.append(
                    Config(
                        mode,
                        workers=workers,
                        procs=procs,
                        task_ms=task_ms,
                        clients=processes,
                        tasks=_tasks(processes, task_ms),
                        regime="dedicated",
                    )
                )
    return out


def _fleet(mode: str, workers: int, clients: int, tasks: int, **extra: Any) -> Config:
    """``workers`` workers of PROCS_PER_WORKER processes and ``clients`` closed-loop clients,
    each component on its own cores."""
    return Config(
        mode,
        workers=workers,
        procs=PROCS_PER_WORKER,
        clients=clients,
        tasks=tasks,
        regime="dedicated",
        **extra,
    )


def rtt_configs() -> list[Config]:
    """Below saturation (8 API processes, 200 clients), where a round trip shows."""
    return [
        _fleet(mode, 100, 200, 20_000, task_ms=10, rtt_ms=rtt, api_procs=8)
        for mode in ("pull", "push")
        for rtt in RTTS_MS
    ]


def api_configs() -> list[Config]:
    return [
        _fleet(mode, 100, 1000, 30_000, api_procs=api) for mode in MODES for api in (1, 2, 4, 8)
    ]


def dispatcher_configs() -> list[Config]:
    return [
        _fleet(mode, 200, 2000, 40_000, api_procs=16, dispatchers=dispatchers)
        for mode in ("pull", "push")
        for dispatchers in (1, 2, 4, 8)
    ]


def failure_configs() -> list[Config]:
    return [
        Config(
            mode,
            workers=1000,
            procs=4,
            task_ms=1000,
            clients=4000,
            tasks=80_000,
            failures_per_min_per_100=rate,
            regime="dedicated",
        )
        for mode in ("pull", "push")
        for rate in FAILURE_RATES
    ]


STUDIES: dict[str, Callable[[], list[Config]]] = {
    "scale": scale_configs,
    "rtt": rtt_configs,
    "api": api_configs,
    "dispatchers": dispatcher_configs,
    "failures": failure_configs,
}


def run_study(name: str, calibration: Calibration, configs: Iterable[Config]) -> pd.DataFrame:
    rows = []
    configs = list(configs)
    for config in tqdm(configs, desc=name, unit="config"):
        started = time.perf_counter()
        p = simulate(config, calibration)
        rows.append(
            {
                **asdict(config),
                **{k: v for k, v in p.to_json().items() if k != "utilisation"},
                **{f"util_{k}": v for k, v in p.utilisation.items()},
                "wall_s": time.perf_counter() - started,
            }
        )
    return pd.DataFrame(rows)


def speed(calibration: Calibration, tasks: int = 1_000_000, repeats: int = 3) -> dict:
    """Simulate ``tasks`` no-op tasks over 10 000 processes (push, 1 000 workers of 10, 1 000
    closed-loop clients) ``repeats`` times: wall times, their median, tasks per second."""
    config = Config("push", workers=1000, procs=10, clients=1000, tasks=tasks, regime="dedicated")
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        p = simulate(config, calibration)
        walls.append(round(time.perf_counter() - started, 2))
    wall = statistics.median(walls)
    return {
        "tasks": tasks,
        "processes": 10_000,
        "wall_s": wall,
        "wall_s_runs": walls,
        "simulated_tasks_per_wall_s": round(tasks / wall),
        "predicted_throughput_tps": round(p.throughput_tps, 1),
    }


def extrapolate(calibration: Calibration, quick: bool = False) -> dict[str, pd.DataFrame]:
    """Every study (``quick``: a reduced set, for tests)."""
    out = {}
    for name, configs in STUDIES.items():
        todo = configs()
        if quick:
            todo = [replace(c, tasks=min(c.tasks, 500)) for c in todo[:: max(1, len(todo) // 4)]]
        out[name] = run_study(name, calibration, todo)
    return out
