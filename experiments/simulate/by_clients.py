"""``simulate by-clients``: each component's CPU per task as the clients grow, measured and
modelled side by side.

Calibration measures the CPU per task at 1, 16 and 64 clients; between them the model
decides by itself what a visit costs (the one-client CPU if it wakes its process, the
16-client CPU in a running turn: ``ModeCalibration.batched``). This measures the ground in
between on the calibration's shapes (a pool of 2, one worker of 2 processes): no-op tasks at
1, 2, 4, 8 and 16 clients, ``repeats`` interleaved rounds, the speed gauge beside every run,
and runs the model on the same configurations. The machine's speed differs from the
calibration's, so the table compares each count's CPU per task against the 16-client one's.
Writes ``measured.csv`` (one row per run), ``modelled.csv`` (one row per configuration, the
mean over seeds) and ``BY_CLIENTS.md`` to ``--out``.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import replace
from pathlib import Path

import pandas as pd

from experiments.measure.cpu import SpeedGauge
from experiments.simulate.calibration import Calibration
from experiments.simulate.measure import measure
from experiments.simulate.model import Config, Platform

log = logging.getLogger(__name__)

CLIENTS = (1, 2, 4, 8, 16)
#: tasks of a run at each client count (about a second of it on the 2-core VM at full speed)
TASKS = {1: 300, 2: 500, 4: 1000, 8: 1500, 16: 2000}
#: the components, as the CPU meter (``experiments.measure.cpu.CpuMeter``) and the model's stations
#: split them (the API's submission and long-poll are one process)
PARTS = ("client", "api", "redis", "dispatcher", "worker")
SEEDS = 3
#: what BY_CLIENTS.md's second table holds
SLEEPS_TEXT = """## Sleeps a task, measured and modelled

Measured: each component's threads' voluntary context switches per task (a wait
for a socket, a pipe or a timer: the process slept and was woken), median over the
runs. Modelled: per task, the visits that found the component's process idle and
paid the wake-up (the one-client CPU).
"""


def configs(modes: list[str], scale: float = 1.0) -> list[Config]:
    """The calibration's shape of each mode at every client count (``scale``: fewer tasks)."""
    return [
        Config(mode, workers=1, procs=2, clients=c, tasks=max(20, int(TASKS[c] * scale)))
        for mode in modes
        for c in CLIENTS
    ]


def measured(modes: list[str], repeats: int = 5, scale: float = 1.0) -> pd.DataFrame:
    """Every run: its configuration, throughput, the gauge's reading (ms) and each
    component's CPU per task (µs)."""
    with SpeedGauge() as gauge:
        runs = measure(configs(modes, scale), repeats, gauge=gauge)
    return pd.DataFrame(
        [
            {
                "mode": r.config.mode,
                "clients": r.config.clients,
                "tasks": r.config.tasks,
                "throughput_tps": r.throughput_tps,
                "gauge_ms": 1000 * r.gauge_s,
                **{f"cpu_us_{k}": 1e6 * r.cpu_s[k] / r.config.tasks for k in PARTS},
                **{f"sleeps_{k}": r.sleeps[k] / r.config.tasks for k in PARTS if r.sleeps},
            }
            for r in runs
        ]
    )


def modelled(modes: list[str], calibration: Calibration, seeds: int = SEEDS) -> pd.DataFrame:
    """The model on the same configurations, at the calibration's speed: throughput, each
    component's CPU per task (its stations' service over the tasks) and how many of its
    visits a task woke it (``sleeps_``, as the real runs' sleeps), mean over seeds."""
    rows = [
        {
            "mode": config.mode,
            "clients": config.clients,
            "tasks": config.tasks,
            **model_row(config, calibration, seeds),
        }
        for config in configs(modes)
    ]
    return pd.DataFrame(rows)


def model_row(config: Config, calibration: Calibration, seeds: int = SEEDS) -> dict[str, float]:
    """The model on ``config``: throughput, each component's CPU per task (µs, its
    stations' service over the tasks) and how many of its visits a task woke it
    (``sleeps_``), mean over ``seeds``."""
    spent = dict.fromkeys(PARTS, 0.0)
    woke = dict.fromkeys(PARTS, 0.0)
    tps = []
    for seed in range(seeds):
        platform = Platform(replace(config, seed=seed), calibration)
        tps.append(platform.run().throughput_tps)
        for part, busy in by_part(platform).items():
            spent[part] += busy / config.tasks / seeds
        for part, count in by_part(platform, "woke").items():
            woke[part] += count / config.tasks / seeds
    return {
        "throughput_tps": statistics.fmean(tps),
        **{f"cpu_us_{k}": 1e6 * v for k, v in spent.items()},
        **{f"sleeps_{k}": v for k, v in woke.items()},
    }


def by_part(platform: Platform, what: str = "busy") -> dict[str, float]:
    """A total of each component's stations in a simulated run: the CPU seconds they
    served (``busy``) or the visits that woke them (``woke``)."""
    return {
        "client": getattr(platform.client, what),
        "api": getattr(platform.api, what),
        "redis": getattr(platform.redis, what),
        "dispatcher": sum(getattr(d.station, what) for d in platform.dispatchers),
        "worker": sum(getattr(w.loop, what) for w in platform.workers),
    }


def relative(runs: pd.DataFrame) -> pd.DataFrame:
    """Per mode and client count: the median throughput and CPU per task (each component's
    and the total), each over the same mode's at 16 clients."""
    runs = runs.assign(cpu_us_total=runs[[f"cpu_us_{k}" for k in PARTS]].sum(axis=1))
    columns = ["throughput_tps", "cpu_us_total", *(f"cpu_us_{k}" for k in PARTS)]
    medians = runs.groupby(["mode", "clients"])[columns].median()
    out = []
    for mode, group in medians.groupby(level="mode", sort=False):
        base = group.loc[(mode, max(CLIENTS))]
        out.append(group / base)
    return pd.concat(out).reset_index()


def render(real: pd.DataFrame, model: pd.DataFrame) -> str:
    """BY_CLIENTS.md: measured against modelled, relative to 16 clients."""
    lines = [
        "# CPU per task by clients, measured and modelled",
        "",
        "Each value over the same mode's at 16 clients (medians over the measured runs; the",
        "model at the calibration's speed, mean of its seeds). `simulate by-clients` wrote it.",
        "",
        "| mode | clients | throughput (real / model) | CPU a task | " + " | ".join(PARTS) + " |",
        "|---|---|---|---|" + "---|" * len(PARTS),
    ]
    lines += _rows(
        relative(real).set_index(["mode", "clients"]),
        relative(model).set_index(["mode", "clients"]),
        ["throughput_tps", "cpu_us_total", *(f"cpu_us_{k}" for k in PARTS)],
    )
    gauge = real["gauge_ms"].median() if "gauge_ms" in real else float("nan")
    lines += ["", f"The speed gauge read {gauge:.3f} ms (median over the runs).", ""]
    if all(f"sleeps_{k}" in frame for k in PARTS for frame in (real, model)):
        lines += sleeps_table(real, model)
    return "\n".join(lines)


def sleeps_table(real: pd.DataFrame, model: pd.DataFrame) -> list[str]:
    """Times a task put each component to sleep (real: its threads' voluntary context
    switches, median over the runs) beside how many of its visits woke it in the model."""
    columns = [f"sleeps_{k}" for k in PARTS]
    r = real.groupby(["mode", "clients"])[columns].median()
    m = model.groupby(["mode", "clients"])[columns].mean()
    header = ["| mode | clients | " + " | ".join(PARTS) + " |", "|---|---|" + "---|" * len(PARTS)]
    return [SLEEPS_TEXT, *header, *_rows(r, m, columns), ""]


def _rows(real: pd.DataFrame, model: pd.DataFrame, columns: list[str]) -> list[str]:
    """One table row per (mode, clients) of ``real`` that ``model`` has too: each column
    as ``real / model``."""
    return [
        f"| {key[0]} | {key[1]} | "
        + " | ".join(f"{real.loc[key, c]:.2f} / {model.loc[key, c]:.2f}" for c in columns)
        + " |"
        for key in real.index
        if key in model.index
    ]


def run(
    modes: list[str], calibration: Calibration, out: Path, repeats: int = 5, scale: float = 1.0
) -> str:
    """Measure, model, write ``out``'s files; returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    real = measured(modes, repeats, scale)
    real.to_csv(out / "measured.csv", index=False)
    model = modelled(modes, calibration)
    model.to_csv(out / "modelled.csv", index=False)
    report = render(real, model)
    (out / "BY_CLIENTS.md").write_text(report)
    log.info("wrote %s", out / "BY_CLIENTS.md")
    return report
