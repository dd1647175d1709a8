"""``simulate calibrate``: measure the per-task CPU and step times the model needs.

Per mode, one small stack (local: a pool of 2; pull and push: one worker of 2 processes),
five rounds of: 300 tasks at one client (the step-time distributions, pooled), 2 000
no-op tasks at 16 clients (CPU per task of every component, from the processes' CPU times
before and after), 3 000 at 64 clients (the CPU per task once batches stop growing); each
component's CPU per task is the median of the rounds (one run alone was off by up to 8 %);
then 2 000 submissions alone (the API's CPU per ``POST /execute_function``; the rest of its
CPU per task is the long-poll's). 40-70 s per mode on the 2-core VM (as its host varies);
then 20 s to measure what a heartbeat costs the dispatcher (``message_cpu``). Before each
mode, 5 s of timing a fixed chunk of work on every core (``experiments.measure.cpu.speed_trace``):
the cores' two speeds, pooled over the modes (``Calibration.speed_states``). Throughout,
the speed gauge (``experiments.measure.cpu.SpeedGauge``) times a small chunk of work on every core
every 20 ms: its reading beside each run, and how the 16- and 64-client runs' throughput
followed it (``gauge_exponent``), let validation predict a later run at the speed it ran
at. A run is taken again while the hypervisor steals a tenth of the cores or more
(``run_calm``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import statistics
import time
from collections.abc import Callable

import psutil

from experiments.measure.cpu import SpeedGauge, effective_cores, speed_states, speed_trace
from experiments.measure.machine import machine
from experiments.simulate.calibration import Calibration, ModeCalibration, percentiles
from experiments.simulate.fit import ITERATIONS as FIT_ITERATIONS
from experiments.simulate.fit import fit_busy, fit_residuals
from experiments.simulate.measure import RealRun, Session, stack_for
from experiments.simulate.model import Config
from faas.config import Settings
from faas.models import Mode
from faas.stack import Stack

log = logging.getLogger(__name__)

#: (start, end) timestamp of each step of a task's life
STEP_BOUNDS = {
    "submit": ("sent", "submitted"),
    "intake": ("submitted", "dispatched"),
    "hop": ("dispatched", "started"),
    "run": ("started", "finished"),
    "back": ("finished", "stored"),
    "notify": ("stored", "observed"),
}
LATENCY_TASKS, LOAD_TASKS, LOAD_CLIENTS, SUBMIT_TASKS = 300, 2000, 16, 2000
HEAVY_TASKS, HEAVY_CLIENTS = 3000, 64
#: rounds of the three runs (interleaved); a component's CPU per task is their median
#: (back to back, a 16-client push run's throughput varied from 795 to 1 162 tasks/s here)
ROUNDS = 5
#: the client counts of one round's runs, in order
ROUND = (1, LOAD_CLIENTS, HEAVY_CLIENTS)
#: idle seconds and heartbeat interval of the heartbeat-cost measurement
IDLE_S, HEARTBEAT_S = 5.0, 0.05
#: seconds of the cores' speed trace before each mode (experiments.measure.cpu.speed_trace)
STATES_S = 5.0
#: fewest gauged 16- and 64-client runs the gauge's exponent is fitted on
GAUGE_POINTS = 6


def calibrate(modes: list[Mode], scale: float = 1.0, rounds: int = ROUNDS) -> Calibration:
    """Measure every mode in ``modes`` (``scale`` shrinks the task counts and the idle
    time, for tests; ``rounds``: of the three runs, see ``calibrate_mode``), each after a
    trace of the cores' speed (pooled: ``speed_states``), with the speed gauge beside
    every run."""
    measured, traces = {}, []
    with SpeedGauge() as gauge:
        for mode in modes:
            traces += trace_cores(scale)
            measured[mode.value] = calibrate_mode(mode, scale, gauge, rounds)
    return finish(measured, message_cpu(idle_s=max(1.0, IDLE_S * scale)), traces, scale)


def trace_cores(scale: float = 1.0) -> list[list[tuple[float, float]]]:
    """The cores' speed trace taken before a mode's runs (``scale`` shrinks it, to 1 s)."""
    return speed_trace(max(1.0, STATES_S * scale))


def finish(
    measured: dict[str, ModeCalibration], message_s: float, traces: list, scale: float = 1.0
) -> Calibration:
    """The calibration of the modes ``measured``: assembled with the cores' speed states
    from ``traces``, then its residuals and busy CPU fitted (a shrunk calibration, a
    test's: one step each)."""
    states = speed_states(traces)
    log.info("the cores' speeds: %s", states)
    calibration = assemble(measured, message_s, states)
    calibration.gauge_exponent = gauge_exponent(measured)
    log.info("throughput against the gauge's speed: exponent %s", calibration.gauge_exponent)
    calibration.to_reference_speed()
    iterations = FIT_ITERATIONS if scale >= 1 else 1
    return fit_busy(fit_residuals(calibration, iterations), iterations)


def gauge_exponent(modes: dict[str, ModeCalibration]) -> float | None:
    """How a saturated run's throughput follows the cores' speed the gauge measured beside
    it: ``e`` in ``throughput ∝ (1 / chunk time) ** e``, the slope of log throughput on log
    chunk time over the calibration's 16- and 64-client runs, each against its own
    configuration's medians, every mode pooled (None: fewer than GAUGE_POINTS runs with a
    gauge). A run's speed against the calibration's is then ``(reference / gauge) ** e``
    (``Calibration.speed_at``)."""
    xs, ys = [], []
    for mode in modes.values():
        runs = mode.measured.get("runs") or []
        for clients in (LOAD_CLIENTS, HEAVY_CLIENTS):
            points = [(t, g) for c, t, g in runs if c == clients and g > 0]
            if len(points) < 2:
                continue
            t_mid = statistics.median(t for t, _ in points)
            g_mid = statistics.median(g for _, g in points)
            xs += [math.log(g / g_mid) for _, g in points]
            ys += [math.log(t / t_mid) for t, _ in points]
    spread = sum(x * x for x in xs)
    if len(xs) < GAUGE_POINTS or spread == 0:
        return None
    return round(-sum(x * y for x, y in zip(xs, ys, strict=True)) / spread, 3)


def calibrate_mode(
    mode: Mode, scale: float = 1.0, gauge: SpeedGauge | None = None, rounds: int = ROUNDS
) -> ModeCalibration:
    """One mode's measurements, on a fresh stack (``gauge``: the cores' speed beside each
    run, see ``gauge_exponent``; ``rounds`` of the three runs: more take longer and
    average more of the machine's moments)."""
    started = time.monotonic()
    with stack_for(Config(mode.value, workers=1, procs=2)) as stack:
        measured = asyncio.run(_calibrate_mode(stack, gauge, mode, scale, rounds))
    log.info("calibrated %s in %.0f s", mode, time.monotonic() - started)
    return measured


def assemble(
    modes: dict[str, ModeCalibration], message_s: float, states: dict | None = None
) -> Calibration:
    """A calibration file's contents: the machine, the settings, each mode, the cores'
    speed states."""
    settings = Settings()
    for mode in modes.values():
        mode.measured["message_cpu_s"] = round(message_s, 9)
    return Calibration(
        machine=machine(),
        modes=modes,
        heartbeat_s=settings.heartbeat_s,
        heartbeat_timeout_s=settings.heartbeat_timeout_s,
        max_attempts=settings.max_attempts,
        speed_states=states,
    )


def message_cpu(idle_s: float = IDLE_S) -> float:
    """Dispatcher CPU seconds per worker per heartbeat: idle push stacks of 1 and of 9
    one-process workers heartbeating every 50 ms; the difference in the dispatcher's CPU
    over the difference in heartbeats. It holds what a worker costs once a heartbeat: its
    message in and the reply, and its share of the housekeeping (expiry, published state)."""
    spent = {}
    for workers in (1, 9):
        env = {"FAAS_HEARTBEAT_S": str(HEARTBEAT_S), "FAAS_HEARTBEAT_TIMEOUT_S": "3"}
        with Stack(Mode.PUSH, workers=workers, procs=1, env=env) as stack:
            dispatcher = psutil.Process(stack.process("dispatcher").pid)
            time.sleep(1.0)  # registrations done
            before = sum(dispatcher.cpu_times()[:2])
            time.sleep(idle_s)
            spent[workers] = sum(dispatcher.cpu_times()[:2]) - before
    heartbeats = 8 * idle_s / HEARTBEAT_S
    per_message = max(0.0, (spent[9] - spent[1]) / heartbeats)
    log.info("dispatcher CPU per heartbeat: %.1f µs", 1e6 * per_message)
    return per_message


async def _calibrate_mode(
    stack: Stack, gauge: SpeedGauge | None, mode: Mode, scale: float, rounds: int
) -> ModeCalibration:
    session = Session(stack, gauge)  # in the loop: its HTTP client needs one
    n_lat, n_load = max(50, int(LATENCY_TASKS * scale)), max(200, int(LOAD_TASKS * scale))
    n_heavy = max(256, int(HEAVY_TASKS * scale))
    # a shrunk calibration (a test's) takes each run once: the guard may wait minutes
    run = session.run_calm if scale >= 1 else session.run
    taken: dict[int, list[RealRun]] = {1: [], LOAD_CLIENTS: [], HEAVY_CLIENTS: []}
    tasks = {1: n_lat, LOAD_CLIENTS: n_load, HEAVY_CLIENTS: n_heavy}
    try:
        await session.setup()
        for _ in range(rounds):
            for clients in ROUND:
                config = Config(mode.value, clients=clients, tasks=tasks[clients])
                taken[clients].append(await run(config))
        submit = await session.submit_cpu(max(200, int(SUBMIT_TASKS * scale)))
    finally:
        await session.close()
    lat, load, heavy = taken[1], taken[LOAD_CLIENTS], taken[HEAVY_CLIENTS]
    rows = [row for run in lat for row in run.rows]
    steps = {
        step: percentiles([1000 * (r[end] - r[start]) for r in rows])
        for step, (start, end) in STEP_BOUNDS.items()
    }
    return ModeCalibration(
        cpu_s=_demands(_median_cpu(load), n_load, submit),
        cpu_1_s=_demands(_median_cpu(lat), n_lat, submit),
        cpu_heavy_s=_demands(_median_cpu(heavy), n_heavy, submit),
        steps_ms=steps,
        measured=_measured(taken, rounds),
    )


def _measured(taken: dict[int, list[RealRun]], rounds: int) -> dict:
    """What a mode's calibration records of its runs beside the CPU per task."""
    cores = os.cpu_count() or 1
    lat, load, heavy = taken[1], taken[LOAD_CLIENTS], taken[HEAVY_CLIENTS]
    return {
        "cpu_count": cores,
        "effective_cores": _median_of(load, lambda r: effective_cores(r.cpu_s, cores)),
        "c1_effective_cores": _median_of(lat, lambda r: effective_cores(r.cpu_s, cores)),
        "load_clients": LOAD_CLIENTS,
        "heavy_clients": HEAVY_CLIENTS,
        "rounds": rounds,
        "probe_s": round(statistics.fmean(r.probe_s for r in lat + load), 6),
        # the gauge's chunk beside the 16- and 64-client runs (the speed the CPU per task
        # was measured at), and every run: clients, tasks/s, gauge (ms)
        "gauge_ms": _median_of(load + heavy, lambda r: 1000 * r.gauge_s, 5),
        "runs": [
            [c, round(r.throughput_tps, 2), round(1000 * r.gauge_s, 5)]
            for c, runs in taken.items()
            for r in runs
        ],
        **{f"c{c}_{k}": v for c, runs in taken.items() for k, v in _summary(runs).items()},
        **{f"c{c}_{k}": v for c, runs in taken.items() for k, v in _sleeps(runs).items()},
    }


def _median_cpu(runs: list[RealRun]) -> dict[str, float]:
    """Each component's median CPU seconds over runs of the same number of tasks."""
    return {k: statistics.median(r.cpu_s[k] for r in runs) for k in runs[0].cpu_s}


def _median_of(runs: list[RealRun], value: Callable[[RealRun], float], digits: int = 3) -> float:
    """The median of ``value`` over the runs, rounded for the calibration file."""
    return round(statistics.median(value(r) for r in runs), digits)


def _summary(runs: list[RealRun]) -> dict[str, float]:
    """Each metric's median over the rounds (the calibration's record of them)."""
    summaries = [r.summary() for r in runs]
    return {k: round(statistics.median(s[k] for s in summaries), 4) for k in summaries[0]}


def _sleeps(runs: list[RealRun]) -> dict[str, float]:
    """Each component's median sleeps per task over the rounds (``sleeps_client`` ...;
    for the record: the model does not use them; see ``simulate by-clients``)."""
    return {
        f"sleeps_{k}": round(statistics.median(r.sleeps[k] / len(r.rows) for r in runs), 3)
        for k in runs[0].sleeps
    }


def _demands(cpu_s: dict[str, float], tasks: int, submit_s: float) -> dict[str, float]:
    """CPU seconds per task of each component; the API's split into the submission
    (measured alone) and the rest (the long-poll)."""
    per_task = {k: v / tasks for k, v in cpu_s.items()}
    api_submit = min(submit_s, per_task["api"])
    demands = {
        "client": per_task["client"],
        "api_submit": api_submit,
        "api_result": per_task["api"] - api_submit,
        "redis": per_task["redis"],
        "dispatcher": per_task["dispatcher"],
        "worker": per_task["worker"],
    }
    return {k: round(v, 9) for k, v in demands.items()}
