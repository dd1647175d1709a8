"""``simulate validate``: predict configurations the calibration never ran, then run them.

Calibration ran one shape per mode (a pool of 2, or one worker of 2 processes) with no-op
tasks at 1, 16 and 64 clients. The held-out set changes what the model must get right by
itself: other client counts (4, 32), twice the workers and processes, and sleeping tasks
(10 ms, 50 ms) whose run time the calibration never saw. Each is measured ``repeats``
times (medians) and predicted with ``SEEDS`` seeds (mean and a t-interval over seeds).
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from experiments.measure.cpu import SpeedGauge, effective_cores
from experiments.simulate.calibrate import (
    IDLE_S,
    ROUNDS,
    calibrate_mode,
    finish,
    message_cpu,
    trace_cores,
)
from experiments.simulate.calibration import Calibration, ModeCalibration
from experiments.simulate.measure import RealRun, measure
from experiments.simulate.model import Config, simulate
from faas.models import Mode

log = logging.getLogger(__name__)

SEEDS = 5
METRICS = ("throughput_tps", "p50_ms", "p99_ms")
#: Largest relative error the issue accepts for each metric.
TARGETS = {"throughput_tps": 0.15, "p50_ms": 0.20, "p99_ms": 0.30}


def held_out(mode: str, scale: float = 1.0) -> list[Config]:
    """The configurations validation predicts (none of them was used to calibrate)."""

    def n(tasks: int) -> int:
        return max(60, int(tasks * scale))

    big: dict[str, Any] = (
        {"workers": 1, "procs": 8} if mode == "local" else {"workers": 2, "procs": 4}
    )
    return [
        Config(mode, clients=4, tasks=n(1000)),
        Config(mode, clients=32, tasks=n(2000)),
        Config(mode, **big, clients=16, tasks=n(1500)),
        Config(mode, **big, task_ms=10, clients=8, tasks=n(800)),
        Config(mode, **big, task_ms=50, clients=16, tasks=n(480)),
    ]


def predict(config: Config, calibration: Calibration, seeds: int = SEEDS) -> dict[str, Any]:
    """Mean of each metric over ``seeds`` simulations, with the half-width of its 95 %
    t-interval (``<metric>_ci``)."""
    runs = [simulate(replace(config, seed=seed), calibration) for seed in range(seeds)]
    out: dict[str, Any] = {}
    for metric in METRICS:
        values = [getattr(r, metric) for r in runs]
        mean = statistics.fmean(values)
        half = 0.0
        if seeds > 1:
            half = stats.t.ppf(0.975, seeds - 1) * statistics.stdev(values) / seeds**0.5
        out[metric], out[f"{metric}_ci"] = mean, half
    out["bottleneck"] = runs[0].bottleneck
    return out


def validate(
    modes: list[str], repeats: int = 3, scale: float = 1.0, rounds: int = ROUNDS
) -> tuple[Calibration, pd.DataFrame, pd.DataFrame]:
    """Per mode: calibrate, then run the held-out configurations and predict them. Answers
    the calibration (every mode) the predictions used, the validation table (one row per
    configuration: measured medians, predictions, relative errors; :func:`validation_table`) and the
    runs it was made of (one row per measured run: ``runs.csv``, from which ``simulate
    repredict`` re-makes the table with a changed model, without measuring).

    Each mode is calibrated just before its held-out runs because this VM's speed drifts
    by tens of per cent within minutes (the cores the processes really get, with the
    hypervisor's share taken off, went from 1.5 to 2.0 between two runs 5 minutes apart):
    a calibration an hour old would measure the drift, not the model. Within minutes it
    still moves by tens of per cent from one run to the next: the speed gauge runs beside
    every run, and each held-out run is also predicted at the speed it read
    (``Calibration.speed_at``: the ``adjusted_*`` columns). ``rounds``: the calibration's
    (``calibrate_mode``)."""
    message_s = message_cpu(idle_s=max(1.0, IDLE_S * scale))
    measured: dict[str, ModeCalibration] = {}
    real: list[RealRun] = []
    traces = []
    with SpeedGauge() as gauge:
        for mode in modes:
            traces += trace_cores(scale)
            measured[mode] = calibrate_mode(Mode(mode), scale, gauge, rounds)
            # a shrunk run (tests): each once
            real += measure(held_out(mode, scale), repeats, calm=scale >= 1, gauge=gauge)
    calibration = finish(measured, message_s, traces, scale)
    runs = pd.DataFrame([run_row(r, calibration) for r in real])
    return calibration, validation_table(runs, calibration), runs


def run_row(run: RealRun, calibration: Calibration) -> dict:
    """One measured run as ``runs.csv`` keeps it: its configuration, the cores its
    processes had, how many tries the steal guard took, the speed gauge beside it and the
    machine's speed against the calibration's it gives (``Calibration.speed_at``; the speed
    probe's ratio, before and after, for the record) and the measured metrics."""
    mode = run.config.mode
    row: dict = {k: v for k, v in asdict(run.config).items() if k in CONFIG_COLUMNS}
    row["effective_cores"] = effective_cores(run.cpu_s, os.cpu_count() or 1)
    row["tries"] = run.tries
    row["gauge_ms"] = 1000 * run.gauge_s
    row["speed"] = calibration.speed_at(mode, run.gauge_s)
    row["probe_speed"] = calibration.mode(mode).measured["probe_s"] / run.probe_s
    return row | run.summary()


def validation_table(runs: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """The validation table of ``runs`` (``runs.csv``' rows), predicted with the model as
    it is now: one row per configuration, in the order they were run."""
    columns = list(CONFIG_COLUMNS)
    groups = runs.groupby(columns, sort=False)
    return pd.DataFrame([_row(group, calibration) for _, group in groups])


def _row(runs: pd.DataFrame, calibration: Calibration) -> dict:
    """Measured medians (min, max) against two predictions: ``predicted_*`` at the
    calibration's machine speed, and ``adjusted_*`` at each run's own (the speed gauge
    beside the run against the one beside the calibration's: the machine, not the
    platform), the median over the runs."""
    first = runs.iloc[0]
    config = Config(
        str(first["mode"]),
        workers=int(first["workers"]),
        procs=int(first["procs"]),
        task_ms=float(first["task_ms"]),
        clients=int(first["clients"]),
        tasks=int(first["tasks"]),
    )
    row: dict = {k: v for k, v in asdict(config).items() if k in CONFIG_COLUMNS}
    row["repeats"] = len(runs)
    row["effective_cores"] = float(runs["effective_cores"].median())
    speeds = [float(v) for v in runs["speed"]]
    row["speed"] = statistics.median(speeds)
    row["retaken"] = int((runs["tries"] - 1).sum())
    predicted = predict(config, calibration)
    adjusted = [predict(replace(config, speed=v), calibration) for v in speeds]
    for metric in METRICS:
        values = [float(v) for v in runs[metric]]
        measured = statistics.median(values)
        row[f"measured_{metric}"] = measured
        row[f"measured_{metric}_min"] = min(values)
        row[f"measured_{metric}_max"] = max(values)
        row[f"predicted_{metric}"] = predicted[metric]
        row[f"predicted_{metric}_ci"] = predicted[f"{metric}_ci"]
        row[f"error_{metric}"] = predicted[metric] / measured - 1
        errors = [a[metric] / v - 1 for a, v in zip(adjusted, values, strict=True)]
        row[f"adjusted_{metric}"] = statistics.median(a[metric] for a in adjusted)
        row[f"adjusted_error_{metric}"] = statistics.median(errors)
    row["bottleneck"] = predicted["bottleneck"]
    return row


CONFIG_COLUMNS = ("mode", "workers", "procs", "task_ms", "clients", "tasks")


def misses(table: pd.DataFrame, kind: str = "error") -> list[str]:
    """Held-out configurations whose error (``kind``: ``error`` at the calibration's speed,
    ``adjusted_error`` at the run's) is beyond the target, described."""
    out = []
    for _, row in table.iterrows():
        for metric, limit in TARGETS.items():
            error = row[f"{kind}_{metric}"]
            if abs(error) > limit:
                out.append(
                    f"{row['mode']} {row['workers']}x{row['procs']} {row['task_ms']:g} ms "
                    f"C={row['clients']}: {metric.split('_')[0]} {100 * error:+.0f} %"
                )
    return out


def validation_runs(root: Path) -> list[Path]:
    """The committed validation directories under ``root`` (``docs/results/simulation``): the
    committed run itself, then each ``more-runs/<HHMM>`` in order."""
    return [root, *sorted((root / "more-runs").glob("[0-9]*"))]


def refitted(run: Path) -> Path:
    """Where a validation directory's files predicted by the model as it is are: its
    ``refit/`` where there is one (``repredict --refit``), else the directory itself."""
    return run / "refit" if (run / "refit" / "validation.csv").exists() else run


def spread(dirs: Sequence[Path], clients: int = 4) -> pd.DataFrame:
    """Across validation directories, one row per directory and mode: the no-op
    throughput at ``clients`` (the median of its runs) and the model's (at each run's
    speed) as multiples of that run's own one-client calibration median, and the model's
    error. Read from each directory's ``calibration.json`` and ``validation.csv``
    (``refit/``'s where there is one: the model as it is)."""
    rows = []
    for d in dirs:
        calibration = Calibration.load(d / "calibration.json")
        table = pd.read_csv(refitted(d) / "validation.csv")
        mine = table[(table["clients"] == clients) & (table["task_ms"] == 0)]
        for _, row in mine.iterrows():
            one = calibration.mode(row["mode"]).measured["c1_throughput_tps"]
            rows.append(
                {
                    "dir": str(d),
                    "mode": row["mode"],
                    "measured_ratio": row["measured_throughput_tps"] / one,
                    "model_ratio": row["adjusted_throughput_tps"] / one,
                    "error": row["adjusted_error_throughput_tps"],
                }
            )
    return pd.DataFrame(rows)


def spread_summary(rows: pd.DataFrame, clients: int = 4) -> list[str]:
    """One line per mode (mean ± standard deviation over the directories; the error's
    correlation with the measured ratio), then how often errors spread like that (normal,
    each mode its own mean and deviation) miss the throughput target in at least one
    mode, against how many directories did."""
    limit = TARGETS["throughput_tps"]
    lines, hit_none = [], 1.0
    for mode, g in rows.groupby("mode", sort=False):
        err = g["error"]
        corr = float(stats.pearsonr(err, g["measured_ratio"])[0]) if len(g) > 2 else float("nan")
        normal = stats.norm(err.mean(), err.std())
        miss = normal.cdf(-limit) + normal.sf(limit)
        hit_none *= 1 - miss
        lines.append(
            f"{mode}: measured {g['measured_ratio'].mean():.2f} ± {g['measured_ratio'].std():.2f}"
            f" x one client ({g['measured_ratio'].min():.2f}-{g['measured_ratio'].max():.2f}),"
            f" model {g['model_ratio'].mean():.2f} ± {g['model_ratio'].std():.2f};"
            f" error {100 * err.mean():+.1f} ± {100 * err.std():.1f} %,"
            f" correlation with the measured ratio {corr:.2f}"
        )
    missed = rows.groupby("dir")["error"].apply(lambda e: bool((e.abs() > limit).any()))
    lines.append(
        f"{clients} clients, throughput beyond ±{100 * limit:.0f} % in some mode: "
        f"{1 - hit_none:.2f} of runs (normal approximation); {int(missed.sum())} of "
        f"{len(missed)} directories"
    )
    return lines
