"""Make the model give back its own calibration runs: its one-client run part by part
(``fit_residuals``), its 16- and 64-client runs' throughput (``fit_busy``).

The CPU per task measured at 16 and at 64 clients holds the wake-ups of those runs; the
model charges a wake-up on top to every visit that finds its process idle, so run as
calibrated it pays some twice and comes out slower than the very runs it was calibrated on.
``fit_busy`` multiplies each mode's 16- and 64-client CPU in a running turn by the factors
that make the model's runs of those two configurations give the measured throughput (a
fixed point, reached to within the seeds' noise). The
residuals are fitted first (they change the loaded runs a little; the busy CPU leaves the
one-client run alone: every visit there wakes its process). Only calibration runs are
used: the held-out configurations stay held out.
"""

from __future__ import annotations

import gc
import logging
import statistics

import numpy as np

from experiments.simulate.calibration import Calibration
from experiments.simulate.model import Config, Platform, Task, Worker, simulate

log = logging.getLogger(__name__)

#: iterations of the fixed point, and seeds each model run is averaged over
ITERATIONS, SEEDS = 6, 2
#: tasks of the model's runs of the calibration's configurations
LOAD_TASKS, HEAVY_TASKS, LATENCY_TASKS = 2000, 3000, 600
#: the parts of a task's life the model's one-client run is timed in: the calibration's
#: steps they span (the model's ``started`` is its ``finished``: a no-op runs no time),
#: and those whose residuals are scaled to fit
PARTS = {
    "to_dispatched": (("sent", "dispatched"), ("submit", "intake")),
    "to_finished": (("dispatched", "finished"), ("hop", "run")),
    "to_stored": (("finished", "stored"), ("back",)),
    "to_observed": (("stored", "observed"), ("notify",)),
}
FITTED = {"to_dispatched": ("submit", "intake"), "to_finished": ("hop",)}


def fit_busy(calibration: Calibration, iterations: int = ITERATIONS) -> Calibration:
    """Set ``busy_scale`` of every mode whose calibration runs' throughput was recorded
    (in place; returns the calibration). 45-60 s for three modes here."""
    for name, mode in calibration.modes.items():
        load = int(mode.measured.get("load_clients", 16))
        heavy = int(mode.measured.get("heavy_clients", 64))
        factors = mode.measured.get("speed_factors", {})
        targets = (
            mode.measured.get(f"c{load}_throughput_tps"),
            mode.measured.get(f"c{heavy}_throughput_tps"),
        )
        if None in targets or mode.cpu_heavy_s is None:
            continue
        # at the reference speed (Calibration.to_reference_speed), as the model runs
        targets = (
            targets[0] / factors.get(str(load), 1.0),
            targets[1] / factors.get(str(heavy), 1.0),
        )
        mode.busy_scale = [1.0, 1.0]
        for _ in range(iterations):
            mode.rebatch()
            got = (
                _throughput(calibration, name, load, LOAD_TASKS),
                _throughput(calibration, name, heavy, HEAVY_TASKS),
            )
            mode.busy_scale = [
                round(s * g / t, 4) for s, g, t in zip(mode.busy_scale, got, targets, strict=True)
            ]
        mode.rebatch()
        log.info("%s: busy CPU scaled by %s", name, mode.busy_scale)
    return calibration


def fit_residuals(calibration: Calibration, iterations: int = ITERATIONS) -> Calibration:
    """Set ``residual_scale`` of every mode (in place; returns the calibration) so that
    the model's one-client run spends in each part of a task's life (:data:`PARTS`) the
    mean time the calibration's one-client runs measured there.

    A step's residual is its measured time less the CPU the task waits for in it, as if
    the task never queued at one client; but it does: a visit finds its process still
    busy with the bookkeeping after an earlier reply (the task's own), or both cores
    busy. Those waits are in the measured step times already, so the model, adding its
    own, would take longer than the measured time at one client. Each part's residuals are
    scaled by its excess over their mean (at least 0), to a fixed point."""
    for name, mode in calibration.modes.items():
        measured = {
            part: sum(float(np.mean(mode.steps_ms[s])) for s in steps) / 1000
            for part, (_, steps) in PARTS.items()
        }
        base = {s: float(np.mean(curve)) for s, curve in mode.measured_residuals.items()}
        scale = dict.fromkeys(mode.measured_residuals, 1.0)
        mode.residual_scale = None
        mode.rescale()
        for _ in range(iterations):
            got = _one_client_parts(calibration, name)
            for part, steps in [(p, FITTED.get(p, PARTS[p][1])) for p in PARTS]:
                residual = sum(scale[s] * base[s] for s in steps)
                if residual <= 0:
                    continue
                factor = max(0.0, 1 + (measured[part] - got[part]) / residual)
                for s in steps:
                    scale[s] = round(scale[s] * factor, 4)
            mode.residual_scale = scale
            mode.rescale()
        log.info("%s: residuals scaled by %s", name, mode.residual_scale)
    return calibration


class _Stamped(Platform):
    """The model, noting when each task was dispatched, finished, stored and observed."""

    def __init__(self, config: Config, calibration: Calibration) -> None:
        super().__init__(config, calibration)
        self.stamps: dict[Task, dict[str, float]] = {}

    def _stamp(self, task: Task, what: str) -> None:
        self.stamps.setdefault(task, {"sent": task.sent}).setdefault(what, self.env.now)

    def _assign(self, task: Task, worker: Worker) -> None:
        self._stamp(task, "dispatched")
        super()._assign(task, worker)

    def _ran(self, task: Task, worker: Worker, epoch: int, wire: float) -> None:
        self._stamp(task, "finished")
        super()._ran(task, worker, epoch, wire)

    def _answer(self, task: Task) -> None:
        self._stamp(task, "stored")
        super()._answer(task)

    def _observed(self, task: Task) -> None:
        self._stamp(task, "observed")
        super()._observed(task)


def _one_client_parts(calibration: Calibration, mode: str) -> dict[str, float]:
    """Mean seconds of each part of a task's life (:data:`PARTS`) in the model's run of
    the calibration's stack at one client, over SEEDS seeds."""
    spans: dict[str, list[float]] = {part: [] for part in PARTS}
    paused = gc.isenabled()
    gc.disable()
    try:
        for seed in range(SEEDS):
            config = Config(mode, workers=1, procs=2, clients=1, tasks=LATENCY_TASKS, seed=seed)
            platform = _Stamped(config, calibration)
            platform.run()
            for stamps in platform.stamps.values():
                for part, ((start, end), _) in PARTS.items():
                    spans[part].append(stamps[end] - stamps[start])
    finally:
        if paused:
            gc.enable()
    return {part: statistics.fmean(values) for part, values in spans.items()}


def _throughput(calibration: Calibration, mode: str, clients: int, tasks: int) -> float:
    """The model's throughput on the calibration's stack (a pool of 2, or one worker of 2
    processes) at ``clients`` closed-loop clients of no-op tasks, over SEEDS seeds."""
    configs = [
        Config(mode, workers=1, procs=2, clients=clients, tasks=tasks, seed=s) for s in range(SEEDS)
    ]
    runs = [simulate(config, calibration) for config in configs]
    return statistics.fmean(r.throughput_tps for r in runs)
